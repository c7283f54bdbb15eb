//! The connection as hyper reads it: a deadline for the first byte, and the
//! request-target guard of [`proto_http::framing`] over every byte read.
//!
//! Both sit below hyper because neither can be done above it: hyper starts its
//! header-read timeout only once it has seen the first bytes, and it hands the
//! service a URI from which a `#…` fragment is already gone (`DELETE /dir/#x`
//! arrives as `DELETE /dir/`). The guard turns such a `#` into a byte hyper's
//! request-line parser refuses, so the request gets `400` and no handler runs.
//! HTTP/2 connections are not followed (the guard stops at the preface); see
//! the README's HTTP notes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use proto_http::framing::TargetGuard;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Wraps an accepted (or TLS-accepted) connection for hyper.
pub(super) struct ReadGuard<I> {
    inner: I,
    /// Until the first byte arrives: when waiting ends.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    targets: TargetGuard,
}

impl<I> ReadGuard<I> {
    /// `wait`: how long the connection may stay silent before its first byte.
    pub(super) fn new(inner: I, wait: Duration) -> Self {
        ReadGuard {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(wait))),
            targets: TargetGuard::new(),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ReadGuard<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.deadline = None;
                    if !this.targets.is_off() {
                        let seen = this.targets.rewritten();
                        this.targets.inspect(&mut buf.filled_mut()[before..]);
                        if this.targets.rewritten() > seen {
                            tracing::debug!("a request target with `#` refused");
                        }
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request within the idle timeout",
                ))),
                _ => Poll::Pending,
            },
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ReadGuard<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
