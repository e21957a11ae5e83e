//! A bounded capture for a guest's stdout and stderr: keeps the last bytes, counts the rest.
//!
//! The end is what an author needs: a Rust panic message, a Python traceback and an uncaught
//! exception are printed last, just before the trap. Writes never fail (a guest whose `println!`
//! fails would panic); the oldest bytes are dropped once the buffer is full, so a chatty guest
//! costs the host at most `capacity` bytes.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Debug, Default)]
struct Buffer {
    kept: VecDeque<u8>,
    dropped: u64,
    /// The oldest bytes were dropped in the middle of a line.
    cut_mid_line: bool,
}

/// Shared, bounded output buffer; clones write to the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct BoundedCapture {
    capacity: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl BoundedCapture {
    /// A capture that keeps the last `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedCapture {
            capacity,
            buffer: Arc::new(Mutex::new(Buffer::default())),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the last `capacity` bytes of this write can survive it.
        let skipped = bytes.len().saturating_sub(self.capacity);
        buf.kept.extend(&bytes[skipped..]);
        let excess = buf.kept.len().saturating_sub(self.capacity);
        let last_dropped = match excess {
            0 => skipped.checked_sub(1).map(|i| bytes[i]),
            n => buf.kept.drain(..n).next_back(),
        };
        if let Some(byte) = last_dropped {
            buf.cut_mid_line = byte != b'\n';
        }
        buf.dropped += (skipped + excess) as u64;
    }

    /// Forget what was captured (a warm instance's next run).
    pub(crate) fn clear(&self) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        buf.kept.clear();
        buf.dropped = 0;
        buf.cut_mid_line = false;
    }

    /// What was captured, lossily decoded, trimmed, after a note of how much came before it.
    pub(crate) fn text(&self) -> String {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let (dropped, cut) = (buf.dropped, buf.cut_mid_line);
        let kept = String::from_utf8_lossy(buf.kept.make_contiguous());
        // A cut inside a line (or a character) shows from the next whole line, if there is one.
        let kept = match kept.find('\n') {
            Some(newline) if cut => kept[newline + 1..].trim(),
            _ => kept.trim(),
        };
        if dropped == 0 {
            kept.to_owned()
        } else {
            format!("({dropped} earlier bytes dropped) …\n{kept}")
        }
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
    fn capture_keeps_the_last_whole_lines_and_counts_what_it_dropped() {
        let c = BoundedCapture::new(12);
        c.push(b"first line\n");
        c.push(b"second\nthird");
        // Cut at a line's end: every kept line is whole.
        assert_eq!(c.text(), "(11 earlier bytes dropped) …\nsecond\nthird");
        c.push(b"\nfourth!");
        // Cut inside "third": only the whole line after it is shown.
        assert_eq!(c.text(), "(19 earlier bytes dropped) …\nfourth!");
        c.push(&[b'x'; 100]);
        // No whole line left: the end of the last one is better than nothing.
        assert_eq!(
            c.text(),
            format!("(119 earlier bytes dropped) …\n{}", "x".repeat(12))
        );
        c.clear();
        c.push(b" short \n");
        assert_eq!(c.text(), "short");
    }
}
