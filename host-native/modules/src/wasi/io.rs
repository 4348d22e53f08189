//! `wasi:io` for modules: wasmtime-wasi's streams and pollables, with every wait bounded by
//! the call's I/O budget (`io_timeout_ms`) and safe on any thread that runs a module.
//!
//! wasmtime-wasi's synchronous bindings run each wait with `Handle::block_on`, which
//! panics on a tokio worker. Here a wait on a multi-threaded runtime's worker hands the
//! worker's other tasks to another thread first (`block_in_place`); elsewhere it runs on
//! wasmtime-wasi's own runtime. A wait longer than what is left of the budget ends the
//! call with [`IoTimeout`].

use std::future::Future;
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    HostInputStream as AsyncInput, HostOutputStream as AsyncOutput,
};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// A call waited on I/O longer than its module's `io_timeout_ms`.
#[derive(Debug, thiserror::Error)]
#[error("waited on I/O longer than its {0} ms I/O limit (io_timeout_ms)")]
pub(crate) struct IoTimeout(pub u64);

/// The I/O budget of the current call.
#[derive(Debug)]
pub(crate) struct IoBudget {
    /// Most time one call may wait on I/O.
    pub limit: Duration,
    /// Time waited so far in this call.
    pub waited: Duration,
}

impl IoBudget {
    /// A budget of `limit` a call.
    pub fn new(limit: Duration) -> Self {
        IoBudget {
            limit,
            waited: Duration::ZERO,
        }
    }
}

/// What the `wasi:io` host functions reach: the instance's resources and its budget.
pub(crate) struct BoundedIo<'a> {
    /// The instance's resources.
    pub table: &'a mut ResourceTable,
    /// The current call's budget.
    pub budget: &'a mut IoBudget,
    /// What the instance holds (its file streams among them).
    pub holdings: &'a mut super::holdings::Holdings,
}

/// [`HasData`] for [`BoundedIo`].
pub(crate) struct Bounded;

impl HasData for Bounded {
    type Data<'a> = BoundedIo<'a>;
}

/// Runs `future` to completion on this thread, whichever it is.
fn block_on<F: Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(|| wasmtime_wasi::runtime::in_tokio(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Err(_) => wasmtime_wasi::runtime::in_tokio(future),
    }
}

/// Waits for `wait` within what is left of `budget`, and counts the time against it.
pub(super) fn wait<T: Send>(
    budget: &mut IoBudget,
    wait: impl Future<Output = T> + Send,
) -> wasmtime::Result<T> {
    let left = budget.limit.saturating_sub(budget.waited);
    let started = Instant::now();
    let outcome = block_on(async { tokio::time::timeout(left, wait).await });
    budget.waited += started.elapsed();
    outcome.map_err(|_| wasmtime::Error::new(IoTimeout(budget.limit.as_millis() as u64)))
}

impl BoundedIo<'_> {
    /// [`wait`] for a stream operation.
    fn wait_stream<T: Send>(
        budget: &mut IoBudget,
        operation: impl Future<Output = StreamResult<T>> + Send,
    ) -> StreamResult<T> {
        wait(budget, operation).map_err(StreamError::Trap)?
    }
}

impl poll::Host for BoundedIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let table = &mut *self.table;
        wait(self.budget, async_poll::Host::poll(table, pollables))?
    }
}

impl poll::HostPollable for BoundedIo<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let table = &mut *self.table;
        wait(
            self.budget,
            async_poll::HostPollable::ready(table, pollable),
        )?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let table = &mut *self.table;
        wait(
            self.budget,
            async_poll::HostPollable::block(table, pollable),
        )?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}

impl streams::Host for BoundedIo<'_> {
    fn convert_stream_error(
        &mut self,
        error: StreamError,
    ) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.table, error)
    }
}

impl streams::HostOutputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        self.holdings.stream_dropped(stream.rep());
        let table = &mut *self.table;
        wait(self.budget, AsyncOutput::drop(table, stream))?
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        AsyncOutput::check_write(self.table, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutput::write(self.table, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        let table = &mut *self.table;
        Self::wait_stream(
            self.budget,
            AsyncOutput::blocking_write_and_flush(table, stream, bytes),
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        let table = &mut *self.table;
        Self::wait_stream(
            self.budget,
            AsyncOutput::blocking_write_zeroes_and_flush(table, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutput::subscribe(self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutput::write_zeroes(self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        AsyncOutput::flush(self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        let table = &mut *self.table;
        Self::wait_stream(self.budget, AsyncOutput::blocking_flush(table, stream))
    }

    fn splice(
        &mut self,
        destination: Resource<DynOutputStream>,
        source: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOutput::splice(self.table, destination, source, len)
    }

    fn blocking_splice(
        &mut self,
        destination: Resource<DynOutputStream>,
        source: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let table = &mut *self.table;
        Self::wait_stream(
            self.budget,
            AsyncOutput::blocking_splice(table, destination, source, len),
        )
    }
}

impl streams::HostInputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        self.holdings.stream_dropped(stream.rep());
        let table = &mut *self.table;
        wait(self.budget, AsyncInput::drop(table, stream))?
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInput::read(self.table, stream, len)
    }

    fn blocking_read(
        &mut self,
        stream: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        let table = &mut *self.table;
        Self::wait_stream(self.budget, AsyncInput::blocking_read(table, stream, len))
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncInput::skip(self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        let table = &mut *self.table;
        Self::wait_stream(self.budget, AsyncInput::blocking_skip(table, stream, len))
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInput::subscribe(self.table, stream)
    }
}
