//! Hand-built pgoutput messages for the tests, written field by field as `proto.c` does.

use bytes::Bytes;

/// A message being written.
pub(super) struct W(Vec<u8>);

impl W {
    pub(super) fn new(tag: u8) -> W {
        W(vec![tag])
    }
    pub(super) fn u8(mut self, v: u8) -> W {
        self.0.push(v);
        self
    }
    pub(super) fn u16(mut self, v: u16) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn u32(mut self, v: u32) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn i32(mut self, v: i32) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn u64(mut self, v: u64) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn i64(mut self, v: i64) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn str(mut self, s: &str) -> W {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    pub(super) fn raw(mut self, b: &[u8]) -> W {
        self.0.extend_from_slice(b);
        self
    }
    fn xid(self, xid: Option<u32>) -> W {
        match xid {
            Some(x) => self.u32(x),
            None => self,
        }
    }
    /// TupleData from `n` (NULL), `u` (unchanged), `t:<text>` and `b:<bytes>` items.
    pub(super) fn tuple(mut self, values: &[&str]) -> W {
        self = self.u16(u16::try_from(values.len()).expect("test tuple fits"));
        for v in values {
            self = match v.split_once(':') {
                Some(("t", text)) => self.u8(b't').len_bytes(text.as_bytes()),
                Some(("b", bin)) => self.u8(b'b').len_bytes(bin.as_bytes()),
                _ if *v == "n" => self.u8(b'n'),
                _ if *v == "u" => self.u8(b'u'),
                _ => panic!("bad test tuple value {v}"),
            };
        }
        self
    }
    fn len_bytes(self, b: &[u8]) -> W {
        self.i32(i32::try_from(b.len()).expect("test value fits"))
            .raw(b)
    }
    pub(super) fn done(self) -> Bytes {
        Bytes::from(self.0)
    }
}

pub(super) fn begin(final_lsn: u64, ts: i64, xid: u32) -> Bytes {
    W::new(b'B').u64(final_lsn).i64(ts).u32(xid).done()
}

pub(super) fn commit(commit_lsn: u64, end_lsn: u64, ts: i64) -> Bytes {
    W::new(b'C')
        .u8(0)
        .u64(commit_lsn)
        .u64(end_lsn)
        .i64(ts)
        .done()
}

pub(super) fn origin(lsn: u64, name: &str) -> Bytes {
    W::new(b'O').u64(lsn).str(name).done()
}

/// Relation `oid` "public"."t<oid>" with columns id (int4, key) and v (text).
pub(super) fn relation(xid: Option<u32>, oid: u32) -> Bytes {
    W::new(b'R')
        .xid(xid)
        .u32(oid)
        .str("public")
        .str(&format!("t{oid}"))
        .u8(b'd')
        .u16(2)
        .u8(1)
        .str("id")
        .u32(23)
        .i32(-1)
        .u8(0)
        .str("v")
        .u32(25)
        .i32(-1)
        .done()
}

pub(super) fn type_msg(xid: Option<u32>, oid: u32, ns: &str, name: &str) -> Bytes {
    W::new(b'Y').xid(xid).u32(oid).str(ns).str(name).done()
}

pub(super) fn insert(xid: Option<u32>, rel: u32, values: &[&str]) -> Bytes {
    W::new(b'I').xid(xid).u32(rel).u8(b'N').tuple(values).done()
}

pub(super) fn update(
    xid: Option<u32>,
    rel: u32,
    old: Option<(u8, &[&str])>,
    new: &[&str],
) -> Bytes {
    let mut w = W::new(b'U').xid(xid).u32(rel);
    if let Some((kind, values)) = old {
        w = w.u8(kind).tuple(values);
    }
    w.u8(b'N').tuple(new).done()
}

pub(super) fn delete(xid: Option<u32>, rel: u32, kind: u8, old: &[&str]) -> Bytes {
    W::new(b'D').xid(xid).u32(rel).u8(kind).tuple(old).done()
}

pub(super) fn truncate(xid: Option<u32>, options: u8, rels: &[u32]) -> Bytes {
    let mut w = W::new(b'T')
        .xid(xid)
        .u32(u32::try_from(rels.len()).expect("test count fits"))
        .u8(options);
    for r in rels {
        w = w.u32(*r);
    }
    w.done()
}

pub(super) fn message(
    xid: Option<u32>,
    transactional: bool,
    lsn: u64,
    prefix: &str,
    content: &[u8],
) -> Bytes {
    W::new(b'M')
        .xid(xid)
        .u8(u8::from(transactional))
        .u64(lsn)
        .str(prefix)
        .len_bytes(content)
        .done()
}

pub(super) fn stream_start(xid: u32, first: bool) -> Bytes {
    W::new(b'S').u32(xid).u8(u8::from(first)).done()
}

pub(super) fn stream_stop() -> Bytes {
    W::new(b'E').done()
}

pub(super) fn stream_commit(xid: u32, commit_lsn: u64, end_lsn: u64, ts: i64) -> Bytes {
    W::new(b'c')
        .u32(xid)
        .u8(0)
        .u64(commit_lsn)
        .u64(end_lsn)
        .i64(ts)
        .done()
}

pub(super) fn stream_abort(xid: u32, subxid: u32) -> Bytes {
    W::new(b'A').u32(xid).u32(subxid).done()
}
