//! What one module holds of the daemon's descriptors and host memory, over all its
//! instances and across calls, and the limits on it.
//!
//! - **Descriptors** (`max_descriptors`): the files, directories, directory listings and
//!   file streams its instances hold open, their TCP sockets, and its HTTP connections.
//!   Opening one more than the limit ends the call with [`DescriptorLimit`] (an HTTP
//!   request gets an error instead, as its connection is made outside the call).
//! - **Host memory** (`max_host_memory`): what its instances' WASI resources take outside
//!   their linear memory. Measured: `wasi:http` fields (every name and value, as
//!   wasmtime-wasi-http counts them), requests' authorities and paths, and
//!   [`HANDLE_BYTES`] for every handle; charged at their most: an outgoing body's buffer
//!   ([`OUTGOING_BODY_BYTES`]) and an HTTP connection's read buffer
//!   ([`CONNECTION_BYTES`]). Past the limit the call ends with [`HostMemoryLimit`].
//!
//! An instance measures its resource table ([`Holdings::refresh`]) before it opens a
//! descriptor, before each I/O wait, every few milliseconds while it computes and when its
//! call ends; its measure counts toward the module's until the instance is dropped. An
//! instance whose call ended with an error is dropped, and with it all it held.

use hyper::header::{HeaderName, HeaderValue};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::p2::body::HostOutgoingBody;
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, HostIncomingResponse, HostOutgoingRequest, HostOutgoingResponse,
};
use wasmtime_wasi_http::FieldMap;

/// Host memory charged for every handle, whatever it is.
pub(crate) const HANDLE_BYTES: usize = 256;

/// Largest write to an outgoing HTTP body, bytes; its buffer holds two.
pub(crate) const OUTGOING_BODY_CHUNK: usize = 64 << 10;

/// Host memory charged for an outgoing body: its buffer, full.
pub(crate) const OUTGOING_BODY_BYTES: usize = 2 * OUTGOING_BODY_CHUNK;

/// Largest read buffer of a module's HTTP connection, bytes; charged for each.
pub(crate) const CONNECTION_BYTES: usize = 64 << 10;

/// Statistics of a module's shares, after the built-in ones.
pub const SHARE_STATISTICS: [&str; 6] = [
    "blocking_threads",
    "descriptors",
    "host_memory",
    "blocking_refused",
    "descriptors_refused",
    "host_memory_refused",
];

/// A call tried to open one descriptor more than its module may hold.
#[derive(Debug, thiserror::Error)]
#[error("holds {held} descriptors (files, sockets, HTTP connections), its limit (max_descriptors {limit}); one more was refused")]
pub(crate) struct DescriptorLimit {
    /// Descriptors the module held.
    pub held: usize,
    /// `max_descriptors`.
    pub limit: usize,
}

/// A call's instances took more host memory than their module may.
#[derive(Debug, thiserror::Error)]
#[error("held {held} bytes of host memory (wasi:http fields, bodies, handles), over its limit (max_host_memory {limit})")]
pub(crate) struct HostMemoryLimit {
    /// Bytes the module held.
    pub held: usize,
    /// `max_host_memory`.
    pub limit: usize,
}

/// One module's descriptors and host memory, and its limits.
#[derive(Debug)]
pub(crate) struct Shares {
    max_descriptors: usize,
    max_host_memory: usize,
    descriptors: AtomicUsize,
    host_memory: AtomicUsize,
    /// File operations refused because every blocking thread was busy.
    pub blocking_refused: AtomicU64,
    /// Descriptors refused over `max_descriptors`.
    pub descriptors_refused: AtomicU64,
    /// Calls ended over `max_host_memory`.
    pub host_memory_refused: AtomicU64,
}

impl Shares {
    /// A module's shares, limited to `max_descriptors` and `max_host_memory` bytes.
    pub fn new(max_descriptors: usize, max_host_memory: usize) -> Shares {
        Shares {
            max_descriptors,
            max_host_memory,
            descriptors: AtomicUsize::new(0),
            host_memory: AtomicUsize::new(0),
            blocking_refused: AtomicU64::new(0),
            descriptors_refused: AtomicU64::new(0),
            host_memory_refused: AtomicU64::new(0),
        }
    }

    /// Descriptors the module holds.
    pub(crate) fn descriptors(&self) -> usize {
        self.descriptors.load(Ordering::Acquire)
    }

    /// Host memory the module holds, bytes.
    pub(crate) fn host_memory(&self) -> usize {
        self.host_memory.load(Ordering::Acquire)
    }

    /// One HTTP connection, held until the returned guard is dropped; refused (and
    /// counted) when the module holds `max_descriptors` already.
    pub fn connection(self: &Arc<Self>) -> Result<Connection, DescriptorLimit> {
        let taken = self
            .descriptors
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.max_descriptors).then_some(held + 1)
            });
        match taken {
            Ok(_) => {
                self.host_memory
                    .fetch_add(CONNECTION_BYTES, Ordering::AcqRel);
                Ok(Connection(self.clone()))
            }
            Err(held) => {
                self.descriptors_refused.fetch_add(1, Ordering::Relaxed);
                Err(DescriptorLimit {
                    held,
                    limit: self.max_descriptors,
                })
            }
        }
    }

    fn add(&self, change: Measure, sign: Sign) {
        let (descriptors, bytes) = (change.descriptors, change.bytes);
        match sign {
            Sign::Plus => {
                self.descriptors.fetch_add(descriptors, Ordering::AcqRel);
                self.host_memory.fetch_add(bytes, Ordering::AcqRel);
            }
            Sign::Minus => {
                self.descriptors.fetch_sub(descriptors, Ordering::AcqRel);
                self.host_memory.fetch_sub(bytes, Ordering::AcqRel);
            }
        }
    }

    /// Resets one of the counters; `false` if `name` is none of them.
    pub fn reset(&self, name: &str) -> bool {
        let counter = match name {
            "blocking_refused" => &self.blocking_refused,
            "descriptors_refused" => &self.descriptors_refused,
            "host_memory_refused" => &self.host_memory_refused,
            _ => return false,
        };
        counter.store(0, Ordering::Relaxed);
        true
    }
}

enum Sign {
    Plus,
    Minus,
}

/// An HTTP connection of a module: one descriptor and [`CONNECTION_BYTES`] of its shares
/// until dropped.
#[derive(Debug)]
pub(crate) struct Connection(Arc<Shares>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.descriptors.fetch_sub(1, Ordering::AcqRel);
        self.0
            .host_memory
            .fetch_sub(CONNECTION_BYTES, Ordering::AcqRel);
    }
}

/// Descriptors and host memory, as measured in one instance.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Measure {
    descriptors: usize,
    bytes: usize,
}

/// What one instance holds, counted in its module's [`Shares`] until it is dropped.
#[derive(Debug)]
pub(crate) struct Holdings {
    shares: Arc<Shares>,
    counted: Measure,
    /// File streams open: each keeps its file open, even once the descriptor is dropped.
    file_streams: HashSet<u32>,
}

impl Holdings {
    /// An instance's holdings, counted in `shares`.
    pub fn new(shares: Arc<Shares>) -> Holdings {
        Holdings {
            shares,
            counted: Measure::default(),
            file_streams: HashSet::new(),
        }
    }

    /// Records that the stream `rep` reads or writes a file.
    pub(crate) fn file_stream_opened(&mut self, rep: u32) {
        self.file_streams.insert(rep);
    }

    /// Records that the stream `rep` was dropped.
    pub(crate) fn stream_dropped(&mut self, rep: u32) {
        self.file_streams.remove(&rep);
    }

    /// Measures `table` again and counts the difference in the module's shares.
    pub(crate) fn refresh(&mut self, table: &mut ResourceTable) {
        let measured = measure(table, self.file_streams.len());
        if measured != self.counted {
            self.shares.add(self.counted, Sign::Minus);
            self.shares.add(measured, Sign::Plus);
            self.counted = measured;
        }
    }

    /// Refreshes, then checks that one more descriptor fits the module's limit.
    pub(crate) fn descriptor(&mut self, table: &mut ResourceTable) -> Result<(), DescriptorLimit> {
        self.refresh(table);
        let held = self.shares.descriptors();
        if held >= self.shares.max_descriptors {
            self.shares
                .descriptors_refused
                .fetch_add(1, Ordering::Relaxed);
            return Err(DescriptorLimit {
                held,
                limit: self.shares.max_descriptors,
            });
        }
        Ok(())
    }

    /// Refreshes, then checks the module's host memory against its limit.
    pub fn memory(&mut self, table: &mut ResourceTable) -> Result<(), HostMemoryLimit> {
        self.refresh(table);
        let held = self.shares.host_memory();
        if held > self.shares.max_host_memory {
            self.shares
                .host_memory_refused
                .fetch_add(1, Ordering::Relaxed);
            return Err(HostMemoryLimit {
                held,
                limit: self.shares.max_host_memory,
            });
        }
        Ok(())
    }
}

impl Drop for Holdings {
    fn drop(&mut self) {
        self.shares.add(self.counted, Sign::Minus);
    }
}

/// What the content of `fields` takes, as wasmtime-wasi-http counts it.
fn fields_bytes(fields: &FieldMap) -> usize {
    fields
        .iter()
        .map(|(name, value)| {
            name.as_str().len() + size_of::<HeaderName>() + value.len() + size_of::<HeaderValue>()
        })
        .sum()
}

/// Descriptors and host memory of every handle in `table`, plus `file_streams`.
fn measure(table: &mut ResourceTable, file_streams: usize) -> Measure {
    let mut measured = Measure {
        descriptors: file_streams,
        bytes: 0,
    };
    for entry in table.iter_mut() {
        let entry: &dyn std::any::Any = entry;
        measured.bytes += HANDLE_BYTES;
        if entry.is::<wasmtime_wasi::filesystem::Descriptor>()
            || entry.is::<wasmtime_wasi::p2::ReaddirIterator>()
            || entry.is::<wasmtime_wasi::p2::TcpSocket>()
        {
            measured.descriptors += 1;
        } else if let Some(fields) = entry.downcast_ref::<FieldMap>() {
            measured.bytes += fields_bytes(fields);
        } else if let Some(request) = entry.downcast_ref::<HostOutgoingRequest>() {
            measured.bytes += fields_bytes(&request.headers)
                + request.authority.as_ref().map_or(0, String::len)
                + request.path_with_query.as_ref().map_or(0, String::len)
                + request.body.as_ref().map_or(0, |_| OUTGOING_BODY_BYTES);
        } else if let Some(response) = entry.downcast_ref::<HostOutgoingResponse>() {
            measured.bytes += fields_bytes(&response.headers)
                + response.body.as_ref().map_or(0, |_| OUTGOING_BODY_BYTES);
        } else if entry.is::<HostOutgoingBody>() {
            measured.bytes += OUTGOING_BODY_BYTES;
        } else if let Some(response) = entry.downcast_ref::<HostIncomingResponse>() {
            measured.bytes += fields_bytes(&response.headers);
        } else if let Some(HostFutureIncomingResponse::Ready(Ok((response, _)))) =
            entry.downcast_ref::<HostFutureIncomingResponse>()
        {
            measured.bytes += response
                .headers()
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len())
                .sum::<usize>();
        }
    }
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_handles_are_measured_and_released_with_the_instance() {
        let shares = Arc::new(Shares::new(2, 4096));
        let mut table = ResourceTable::new();
        let mut holdings = Holdings::new(shares.clone());
        let mut fields = FieldMap::new_mutable(1 << 20);
        fields
            .append_raw(
                HeaderName::from_static("x-big"),
                HeaderValue::from_bytes(&[b'a'; 3000]).unwrap(),
            )
            .unwrap();
        table.push(fields).unwrap();
        assert!(holdings.memory(&mut table).is_ok());
        let expected = HANDLE_BYTES + 5 + size_of::<HeaderName>() + 3000 + size_of::<HeaderValue>();
        assert_eq!(shares.host_memory(), expected);
        table.push(FieldMap::new_mutable(1 << 20)).unwrap();
        table.push(FieldMap::new_mutable(1 << 20)).unwrap();
        table.push(FieldMap::new_mutable(1 << 20)).unwrap();
        let over = holdings.memory(&mut table).unwrap_err();
        assert_eq!((over.held, over.limit), (expected + 3 * HANDLE_BYTES, 4096));
        let first = shares.connection().unwrap();
        let _second = shares.connection().unwrap();
        assert!(shares.connection().is_err(), "max_descriptors 2");
        holdings.file_stream_opened(7);
        assert!(holdings.descriptor(&mut table).is_err());
        drop(first);
        holdings.stream_dropped(7);
        assert!(holdings.descriptor(&mut table).is_ok());
        assert_eq!(shares.descriptors_refused.load(Ordering::Relaxed), 2);
        drop(holdings);
        assert_eq!(shares.host_memory(), CONNECTION_BYTES);
        assert_eq!(shares.descriptors(), 1);
    }
}
