//! A module's standard error, kept as the tail of what it wrote, so that the reply to a
//! failed call can quote it (a Python traceback's last line, a JavaScript exception).
//! Nothing a module writes reaches the daemon's own output, and a module that writes
//! without end keeps only the last [`TAIL_BYTES`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// Bytes of standard error kept.
pub(crate) const TAIL_BYTES: usize = 4096;

/// Longest quote of standard error in a reply, bytes.
pub(crate) const QUOTE_BYTES: usize = 512;

/// The last [`TAIL_BYTES`] a module wrote to standard error; clones share the buffer.
#[derive(Clone, Default)]
pub(crate) struct StderrTail {
    buffer: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrTail {
    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (buffer.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        buffer.drain(..overflow);
        buffer.extend(bytes);
    }

    /// Forgets what was written (at the start of each call).
    pub fn clear(&self) {
        self.buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The last lines written, on one line (`" | "` between them), at most
    /// [`QUOTE_BYTES`]; `None` if nothing was written.
    pub fn quote(&self) -> Option<String> {
        let buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let text =
            String::from_utf8_lossy(&buffer.iter().copied().collect::<Vec<u8>>()).into_owned();
        let mut quoted: Vec<&str> = Vec::new();
        let mut size = 0;
        for line in text.lines().rev().map(str::trim).filter(|l| !l.is_empty()) {
            if size + line.len() > QUOTE_BYTES {
                if quoted.is_empty() {
                    let mut start = line.len() - QUOTE_BYTES;
                    while !line.is_char_boundary(start) {
                        start += 1;
                    }
                    quoted.push(&line[start..]);
                }
                break;
            }
            size += line.len() + 3;
            quoted.push(line);
        }
        quoted.reverse();
        (!quoted.is_empty()).then(|| quoted.join(" | "))
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi_io::async_trait]
impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(TAIL_BYTES)
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_the_last_lines_on_one_line() {
        let tail = StderrTail::default();
        assert_eq!(tail.quote(), None);
        tail.append(
            b"Traceback (most recent call last):\n  File \"app.py\", line 3\n\nValueError: boom\n",
        );
        assert_eq!(
            tail.quote().as_deref(),
            Some("Traceback (most recent call last): | File \"app.py\", line 3 | ValueError: boom")
        );
        tail.clear();
        assert_eq!(tail.quote(), None);
    }

    #[test]
    fn keeps_only_the_tail() {
        let tail = StderrTail::default();
        for _ in 0..10 {
            tail.append(&[b'x'; TAIL_BYTES]);
        }
        tail.append(b"\nlast words");
        assert_eq!(tail.buffer.lock().unwrap().len(), TAIL_BYTES);
        assert_eq!(tail.quote().as_deref(), Some("last words"));
    }

    #[test]
    fn a_long_line_is_quoted_by_its_end() {
        let tail = StderrTail::default();
        tail.append(&[b'y'; 2000]);
        assert_eq!(tail.quote().map(|q| q.len()), Some(QUOTE_BYTES));
    }
}
