//! The payloads of CopyData inside a replication stream, and small text parsers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use postgres_protocol::message::frontend;

use super::Lsn;

/// Microseconds from the Unix epoch to Postgres' epoch, 2000-01-01 00:00:00 UTC.
pub(crate) const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// XLogData `w`: `Int64 wal_start, Int64 wal_end, Int64 send_time`, then the payload.
const XLOG_HEADER: usize = 1 + 8 + 8 + 8;
/// Primary keepalive `k`: `Int64 wal_end, Int64 send_time, Byte1 reply_requested`.
const KEEPALIVE_LEN: usize = 1 + 8 + 8 + 1;

/// One CopyData payload from the walsender.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServerCopy {
    XLog {
        wal_start: Lsn,
        wal_end: Lsn,
        send_time: i64,
        data: Bytes,
    },
    Keepalive {
        wal_end: Lsn,
        reply_requested: bool,
    },
}

/// Decodes a CopyData payload (zero-copy: `data` is a slice of `payload`).
pub(crate) fn decode_server_copy(mut payload: Bytes) -> Result<ServerCopy, String> {
    match payload.first().copied() {
        Some(b'w') => {
            if payload.len() < XLOG_HEADER {
                return Err(format!(
                    "XLogData of {} bytes is shorter than its 25-byte header",
                    payload.len()
                ));
            }
            payload.advance(1);
            let wal_start = payload.get_u64();
            let wal_end = payload.get_u64();
            let send_time = payload.get_i64();
            Ok(ServerCopy::XLog {
                wal_start,
                wal_end,
                send_time,
                data: payload,
            })
        }
        Some(b'k') => {
            if payload.len() < KEEPALIVE_LEN {
                return Err(format!(
                    "primary keepalive of {} bytes is shorter than 18 bytes",
                    payload.len()
                ));
            }
            payload.advance(1);
            let wal_end = payload.get_u64();
            let _send_time = payload.get_i64();
            let reply_requested = payload.get_u8() != 0;
            Ok(ServerCopy::Keepalive {
                wal_end,
                reply_requested,
            })
        }
        Some(t) => Err(format!(
            "unknown replication message '{}' (0x{t:02x})",
            char::from(t)
        )),
        None => Err("empty CopyData in the replication stream".to_string()),
    }
}

/// Appends a Standby Status Update (`r`) framed as CopyData to `out`.
///
/// `lsn` is reported unchanged as written, flushed and applied: Postgres reads each as "every
/// byte before this position", so the end LSN of a durable commit is sent as is (no +1). The
/// flushed value becomes the slot's `confirmed_flush_lsn`.
pub(crate) fn encode_status_update(out: &mut BytesMut, lsn: Lsn, client_time_us: i64) {
    let mut p = BytesMut::with_capacity(34);
    p.put_u8(b'r');
    p.put_u64(lsn); // written
    p.put_u64(lsn); // flushed
    p.put_u64(lsn); // applied
    p.put_i64(client_time_us);
    p.put_u8(0); // no reply requested
    // A 34-byte payload always fits CopyData's i32 length.
    if let Ok(d) = frontend::CopyData::new(p.freeze()) {
        d.write(out);
    }
}

/// Now, in µs since 2000-01-01 UTC.
pub(crate) fn pg_now_us() -> i64 {
    let unix_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    unix_us - PG_EPOCH_OFFSET_US
}

/// Parses a time GUC as `SHOW` prints it: "60s", "2s", "500ms", "1min", "1h", "1d", "0".
/// `Ok(None)` for 0 (disabled).
pub(crate) fn parse_pg_duration(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" is not a duration"))?;
    let ms_per = match unit.trim() {
        "ms" => 1,
        // A bare number is in the GUC's base unit, milliseconds for wal_sender_timeout.
        "" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("\"{s}\" has the unknown time unit \"{other}\"")),
    };
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(n.saturating_mul(ms_per))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xlogdata_is_decoded_without_copying() {
        let mut p = BytesMut::new();
        p.put_u8(b'w');
        p.put_u64(0x16_B374_D848);
        p.put_u64(0x16_B374_D900);
        p.put_i64(-5);
        p.put_slice(b"Bpayload");
        let payload = p.freeze();
        match decode_server_copy(payload.clone()).expect("xlog") {
            ServerCopy::XLog {
                wal_start,
                wal_end,
                send_time,
                data,
            } => {
                assert_eq!(wal_start, 0x16_B374_D848);
                assert_eq!(wal_end, 0x16_B374_D900);
                assert_eq!(send_time, -5);
                assert_eq!(&data[..], b"Bpayload");
                assert_eq!(data.as_ptr(), payload[25..].as_ptr(), "a slice, not a copy");
            }
            other => panic!("expected XLogData, got {other:?}"),
        }
    }

    #[test]
    fn keepalive_is_decoded() {
        let mut p = BytesMut::new();
        p.put_u8(b'k');
        p.put_u64(42);
        p.put_i64(7);
        p.put_u8(1);
        assert_eq!(
            decode_server_copy(p.freeze()),
            Ok(ServerCopy::Keepalive {
                wal_end: 42,
                reply_requested: true
            })
        );
    }

    #[test]
    fn short_or_unknown_payloads_are_refused() {
        assert!(decode_server_copy(Bytes::from_static(b"w1234")).is_err());
        assert!(decode_server_copy(Bytes::from_static(b"k12")).is_err());
        assert!(decode_server_copy(Bytes::from_static(b"")).is_err());
        let e = decode_server_copy(Bytes::from_static(b"zzz")).expect_err("unknown");
        assert!(e.contains("'z'"), "{e}");
    }

    #[test]
    fn status_update_golden_bytes() {
        let mut out = BytesMut::new();
        encode_status_update(&mut out, 0x0000_0001_0000_0002, 0x0102_0304_0506_0708);
        let mut want = vec![b'd', 0, 0, 0, 38, b'r'];
        for _ in 0..3 {
            want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        }
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.push(0);
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn pg_clock_is_after_2020() {
        // 2020-01-01 is 631,152,000 s after 2000-01-01.
        assert!(pg_now_us() > 631_152_000 * 1_000_000);
    }

    #[test]
    fn durations_as_show_prints_them() {
        let d = |s| parse_pg_duration(s).expect(s);
        assert_eq!(d("60s"), Some(Duration::from_secs(60)));
        assert_eq!(d("2s"), Some(Duration::from_secs(2)));
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("1min"), Some(Duration::from_secs(60)));
        assert_eq!(d("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(d("0"), None);
        assert_eq!(d("1500"), Some(Duration::from_millis(1500)));
        assert!(parse_pg_duration("ten").is_err());
        assert!(parse_pg_duration("5 fortnights").is_err());
    }
}
