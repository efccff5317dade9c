//! Kafka framing: a 4-byte big-endian size, then the request. The size is checked against
//! `socket.request.max.bytes` before anything is allocated for it.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a connection cannot go on reading requests.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("request size {size} is over socket.request.max.bytes={max}")]
    TooLarge { size: i64, max: usize },
    #[error("negative request size {0}")]
    Negative(i32),
    #[error("connection ended inside a request ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one request frame; `None` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut size[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated { got, want: 4 })
            };
        }
        got += n;
    }
    let size = i32::from_be_bytes(size);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    let size = size as usize;
    if size > max {
        return Err(FrameError::TooLarge {
            size: size as i64,
            max,
        });
    }
    // Read straight into spare capacity (no zeroing), never past this frame.
    let mut buf = BytesMut::with_capacity(size);
    let mut limited = r.take(size as u64);
    while buf.len() < size {
        let n = limited.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got: buf.len(),
                want: size,
            });
        }
    }
    Ok(Some(buf.freeze()))
}

/// Encodes a response frame: size, header (of `header_version`), body.
pub fn encode_response<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &R,
    version: i16,
) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, header_version)?;
    body.encode(&mut out, version)?;
    let len = i32::try_from(out.len() - 4)?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}
