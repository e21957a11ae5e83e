//! A bounded capture for a guest's stdout and stderr: keeps the first bytes, counts the rest.
//!
//! Writes never fail (a guest whose `println!` fails would panic), they are only dropped once
//! the buffer is full, so a chatty guest costs the host at most `capacity` bytes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Debug, Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: u64,
}

/// Shared, bounded output buffer; clones write to the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct BoundedCapture {
    capacity: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl BoundedCapture {
    /// A capture that keeps at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedCapture {
            capacity,
            buffer: Arc::new(Mutex::new(Buffer::default())),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.capacity.saturating_sub(buf.kept.len());
        let take = room.min(bytes.len());
        buf.kept.extend_from_slice(&bytes[..take]);
        buf.dropped += (bytes.len() - take) as u64;
    }

    /// Forget what was captured (a warm instance's next run).
    pub(crate) fn clear(&self) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        buf.kept.clear();
        buf.dropped = 0;
    }

    /// What was captured, lossily decoded, trimmed.
    pub(crate) fn text(&self) -> String {
        let buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::from_utf8_lossy(&buf.kept).trim().to_owned();
        if buf.dropped > 0 {
            text.push_str(&format!(" … ({} more bytes dropped)", buf.dropped));
        }
        text
    }
}

impl IsTerminal for BoundedCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedCapture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for BoundedCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_first_bytes_and_counts_the_rest() {
        let c = BoundedCapture::new(5);
        c.push(b"hello world");
        assert_eq!(c.text(), "hello … (6 more bytes dropped)");
    }
}
