//! Framing of backend messages over a plain or TLS socket.
//!
//! `postgres-protocol`'s `Message::parse` does not know CopyBothResponse (`W`) or
//! NegotiateProtocolVersion (`v`) and would drop such a frame with an error, so the header is
//! peeked first and those two are parsed here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use postgres_protocol::message::backend::{Header, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::WireError;

/// Postgres refuses messages over 1 GiB (`PQ_LARGE_MESSAGE_LIMIT`); a larger length is a
/// corrupt stream, and honouring it would let one frame take unbounded memory.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// How much to ask the socket for at least, so small frames do not cost one read each.
const READ_CHUNK: usize = 8 * 1024;

/// A backend message.
pub(crate) enum Backend {
    /// Everything `postgres-protocol` parses.
    Message(Message),
    /// CopyBothResponse: `Int8 format, Int16 ncols, Int16[ncols]` (the formats are of no
    /// use: logical replication sends CopyData whatever they say).
    CopyBoth,
    /// NegotiateProtocolVersion: the newest minor version the server supports and the
    /// protocol options it did not recognise.
    NegotiateProtocol {
        newest_minor: i32,
        unsupported: Vec<String>,
    },
}

/// The socket, before or after the TLS upgrade.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A framed connection: buffered reads of whole backend messages, and writes.
pub(crate) struct Framed {
    stream: Stream,
    rbuf: BytesMut,
    /// `host:port`, for error messages.
    pub addr: String,
}

impl Framed {
    pub fn new(stream: Stream, addr: String) -> Self {
        Framed {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            addr,
        }
    }

    /// Reads the next whole message. Cancel-safe: bytes already read stay in the buffer, so
    /// dropping this future (in a `select!` or on a timeout) loses nothing.
    pub async fn read(&mut self) -> Result<Backend, WireError> {
        loop {
            if let Some(m) =
                parse_frame(&mut self.rbuf).map_err(|r| WireError::protocol(&self.addr, r))?
            {
                return Ok(m);
            }
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK {
                self.rbuf.reserve(READ_CHUNK);
            }
            let n = self
                .stream
                .read_buf(&mut self.rbuf)
                .await
                .map_err(|e| WireError::io(&self.addr, "reading from the server", e))?;
            if n == 0 {
                return Err(WireError::closed(
                    &self.addr,
                    "the server closed the connection",
                ));
            }
        }
    }

    /// Writes and flushes `buf`. Not cancel-safe: callers bound it with a timeout after which
    /// the connection is treated as broken.
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), WireError> {
        self.stream
            .write_all(buf)
            .await
            .map_err(|e| WireError::io(&self.addr, "writing to the server", e))?;
        self.stream
            .flush()
            .await
            .map_err(|e| WireError::io(&self.addr, "writing to the server", e))
    }

    /// Closes the write side (sends TLS close_notify first); errors are irrelevant then.
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// Takes one whole message off the front of `buf`, or `None` if more bytes are needed (with
/// room reserved for the rest of the frame).
pub(crate) fn parse_frame(buf: &mut BytesMut) -> Result<Option<Backend>, String> {
    let header = match Header::parse(buf) {
        Ok(Some(h)) => h,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("invalid message header: {e}")),
    };
    // `len` counts itself (4 bytes) but not the tag; Header::parse rejected len < 4.
    let len = usize::try_from(header.len()).map_err(|_| "negative message length".to_string())?;
    if len > MAX_FRAME {
        return Err(format!(
            "message '{}' of {len} bytes is over the 1 GiB limit of the protocol",
            char::from(header.tag())
        ));
    }
    let total = len + 1;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    match header.tag() {
        b'W' => {
            let mut body = buf.split_to(total).split_off(5);
            if body.len() < 3 {
                return Err("CopyBothResponse shorter than its 3-byte header".to_string());
            }
            let _format = body.get_u8();
            let ncols = usize::from(body.get_u16());
            if body.len() != 2 * ncols {
                return Err(format!(
                    "CopyBothResponse announces {ncols} columns but has {} bytes of formats",
                    body.len()
                ));
            }
            Ok(Some(Backend::CopyBoth))
        }
        b'v' => {
            let mut body = buf.split_to(total).split_off(5);
            if body.len() < 8 {
                return Err("NegotiateProtocolVersion shorter than 8 bytes".to_string());
            }
            let newest_minor = body.get_i32();
            let count = body.get_i32();
            let mut unsupported = Vec::new();
            for _ in 0..count.max(0) {
                let Some(end) = body.iter().position(|b| *b == 0) else {
                    return Err("NegotiateProtocolVersion option name without NUL".to_string());
                };
                unsupported.push(String::from_utf8_lossy(&body[..end]).into_owned());
                body.advance(end + 1);
            }
            Ok(Some(Backend::NegotiateProtocol {
                newest_minor,
                unsupported,
            }))
        }
        tag => match Message::parse(buf) {
            Ok(Some(m)) => Ok(Some(Backend::Message(m))),
            // Unreachable after the length check above, but harmless: wait for more bytes.
            Ok(None) => Ok(None),
            Err(e) => Err(format!("invalid message '{}': {e}", char::from(tag))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn copy_both_response_is_parsed_here() {
        let mut buf = BytesMut::from(&frame(b'W', &[0, 0, 0])[..]);
        buf.extend_from_slice(&frame(b'Z', b"I"));
        assert!(matches!(parse_frame(&mut buf), Ok(Some(Backend::CopyBoth))));
        assert!(matches!(
            parse_frame(&mut buf),
            Ok(Some(Backend::Message(Message::ReadyForQuery(_))))
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn copy_both_with_wrong_column_count_is_refused() {
        let mut buf = BytesMut::from(&frame(b'W', &[0, 0, 2, 0, 0])[..]);
        let e = parse_frame(&mut buf).err().expect("refused");
        assert!(e.contains("2 columns"), "{e}");
    }

    #[test]
    fn negotiate_protocol_version_lists_options() {
        let mut body = BytesMut::new();
        body.put_i32(0);
        body.put_i32(1);
        body.put_slice(b"_pq_.x\0");
        let mut buf = BytesMut::from(&frame(b'v', &body)[..]);
        match parse_frame(&mut buf) {
            Ok(Some(Backend::NegotiateProtocol {
                newest_minor,
                unsupported,
            })) => {
                assert_eq!(newest_minor, 0);
                assert_eq!(unsupported, vec!["_pq_.x".to_string()]);
            }
            _ => panic!("expected NegotiateProtocolVersion"),
        }
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let whole = frame(b'd', b"hello");
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert!(matches!(parse_frame(&mut buf), Ok(None)), "cut at {cut}");
            assert_eq!(buf.len(), cut);
        }
        let mut buf = BytesMut::from(&whole[..]);
        match parse_frame(&mut buf) {
            Ok(Some(Backend::Message(Message::CopyData(d)))) => assert_eq!(d.data(), b"hello"),
            _ => panic!("expected CopyData"),
        }
    }

    #[test]
    fn frames_over_one_gib_are_refused() {
        let mut buf = BytesMut::new();
        buf.put_u8(b'd');
        buf.put_i32(i32::try_from(MAX_FRAME).expect("fits") + 1);
        let e = parse_frame(&mut buf).err().expect("refused");
        assert!(e.contains("1 GiB"), "{e}");
        let mut buf = BytesMut::new();
        buf.put_u8(b'd');
        buf.put_i32(2);
        assert!(parse_frame(&mut buf).is_err(), "length < 4");
    }
}
