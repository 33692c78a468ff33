//! A stream wrapper that replays bytes already read (peeked) before reading more from the inner
//! stream. Used after CONNECT to look at the first byte (TLS or plain HTTP) without losing it.
//! Owns nothing but the replay buffer: exactly the bytes one peek read (≤ 4 KiB), freed as soon
//! as they have been replayed (a long-lived tunnel must not keep a 4 KiB scratch buffer).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

pub struct Rewind<T> {
    prefix: Bytes,
    inner: T,
}

impl<T: AsyncRead + Unpin> Rewind<T> {
    pub fn new(inner: T) -> Self {
        Self {
            prefix: Bytes::new(),
            inner,
        }
    }

    /// Read at least one byte and keep it for replay; returns the first byte, or None at EOF.
    pub async fn peek_first(&mut self) -> io::Result<Option<u8>> {
        if let Some(&b) = self.prefix.first() {
            return Ok(Some(b));
        }
        let mut buf = vec![0u8; 4096];
        let n = self.inner.read(&mut buf).await?;
        // Keep only what was read; the scratch buffer is freed here.
        self.prefix = Bytes::copy_from_slice(buf.get(..n).unwrap_or(&[]));
        Ok(self.prefix.first().copied())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(this.prefix.get(..n).unwrap_or(&[]));
            this.prefix.advance(n);
            if this.prefix.is_empty() {
                // Release the allocation (an advanced-to-empty `Bytes` still holds it).
                this.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn peeked_bytes_are_replayed() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"\x16hello")
            .await
            .expect("write");
        drop(a);
        let mut r = Rewind::new(b);
        assert_eq!(r.peek_first().await.expect("peek"), Some(0x16));
        let mut all = Vec::new();
        r.read_to_end(&mut all).await.expect("read");
        assert_eq!(all, b"\x16hello");
    }
}
