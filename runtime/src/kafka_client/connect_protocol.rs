//! Kafka Connect's group protocol (protocol type `connect`): the worker metadata a member
//! sends with JoinGroup and the assignment the leader hands out through SyncGroup, byte for
//! byte as Apache Kafka's `ConnectProtocol` (v0, `default`) and
//! `IncrementalCooperativeConnectProtocol` (v1 `compatible`, v2 `sessioned`) lay them out, so
//! weir workers can share a group with Java workers.
//!
//! ```text
//! WorkerMetadata  => version i16, url string, config_offset i64,
//!                    allocation nullable_bytes (v1+: the worker's current assignment,
//!                    itself encoded as an Assignment; null before the first one)
//! Assignment      => version i16, error i16, leader string, leader_url string,
//!                    config_offset i64, assigned [ConnectorTasks],
//!                    revoked [ConnectorTasks] (v1+), delay_ms i32 (v1+)
//! ConnectorTasks  => connector string, tasks [i32]   (task -1 is the connector itself)
//! ```
//!
//! Integers are big-endian; a string is an i16 length and UTF-8; bytes an i32 length (-1 is
//! null); an array an i32 count (-1 is null, read as empty). v2 is v1's layout: its version
//! only says that the workers sign internal REST requests (KIP-507). As Kafka does, fields
//! after the v0 ones may be missing at the very end of a buffer (they take their defaults),
//! negative versions are refused, and bytes after the known fields are ignored.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// The JoinGroup protocol type of Kafka Connect workers.
pub const PROTOCOL_TYPE: &str = "connect";
/// v0, eager rebalancing (every worker stops everything at every rebalance).
pub const EAGER: &str = "default";
/// v1, incremental cooperative rebalancing (KIP-415).
pub const COMPATIBLE: &str = "compatible";
/// v2, v1 plus signed internal requests (KIP-507).
pub const SESSIONED: &str = "sessioned";
pub const V0: i16 = 0;
pub const V1: i16 = 1;
pub const V2: i16 = 2;
/// The task id that stands for the connector instance itself in an assignment.
pub const CONNECTOR_TASK: i32 = -1;
/// `Assignment::error`: the assignment is usable.
pub const NO_ERROR: i16 = 0;
/// `Assignment::error`: the leader was behind the config topic; read to its end and rejoin.
pub const CONFIG_MISMATCH: i16 = 1;

/// The protocol version a protocol name stands for.
pub fn protocol_version(name: &str) -> Option<i16> {
    match name {
        EAGER => Some(V0),
        COMPATIBLE => Some(V1),
        SESSIONED => Some(V2),
        _ => None,
    }
}

/// A connect protocol buffer that cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// `worker metadata` or `assignment`.
    pub what: &'static str,
    /// The field, named as Kafka names it (`config-offset`, `leader-url`, ...).
    pub field: &'static str,
    pub problem: String,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connect {} field `{}`: {}",
            self.what, self.field, self.problem
        )
    }
}

impl std::error::Error for ProtocolError {}

/// What a worker tells the group when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerMetadata {
    pub version: i16,
    /// The worker's REST URL, where the leader forwards requests.
    pub url: String,
    /// The offset in the config topic the worker has read up to.
    pub config_offset: i64,
    /// v1+: what the worker runs now; `None` before its first assignment.
    pub allocation: Option<Assignment>,
}

/// What the leader hands one worker: under v1+, the connectors and tasks it should start in
/// addition to what it runs, and those it should stop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    pub version: i16,
    /// [`NO_ERROR`] or [`CONFIG_MISMATCH`].
    pub error: i16,
    /// The leader's member id.
    pub leader: String,
    pub leader_url: String,
    /// The config topic offset the assignment was computed at.
    pub config_offset: i64,
    pub connectors: Vec<String>,
    pub tasks: Vec<(String, u32)>,
    pub revoked_connectors: Vec<String>,
    pub revoked_tasks: Vec<(String, u32)>,
    /// v1+: how long to wait before rejoining (a scheduled rebalance); 0 for none.
    pub delay_ms: i32,
}

impl WorkerMetadata {
    /// The JoinGroup metadata bytes.
    pub fn encode(&self) -> Result<Bytes, ProtocolError> {
        let mut w = Writer::new("worker metadata");
        w.i16(self.version);
        w.string("url", &self.url)?;
        w.i64(self.config_offset);
        match (&self.allocation, self.version) {
            (None, V0) => {}
            (Some(_), V0) => return Err(w.error("allocation", "does not exist in version 0")),
            (None, _) => w.i32(-1),
            (Some(a), _) => {
                let nested = a.encode()?;
                w.bytes("allocation", &nested)?;
            }
        }
        Ok(w.finish())
    }

    /// Reads a member's metadata of any version.
    pub fn decode(buf: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new("worker metadata", buf);
        let version = r.version()?;
        let url = r.string("url")?;
        let config_offset = r.i64("config-offset")?;
        let allocation = if r.at_end() {
            None
        } else {
            r.nullable_bytes("allocation")?
                .map(Assignment::decode)
                .transpose()?
        };
        Ok(Self {
            version,
            url,
            config_offset,
            allocation,
        })
    }
}

impl Assignment {
    /// The SyncGroup assignment bytes (v0 carries neither revocations nor a delay).
    pub fn encode(&self) -> Result<Bytes, ProtocolError> {
        let mut w = Writer::new("assignment");
        w.i16(self.version);
        w.i16(self.error);
        w.string("leader", &self.leader)?;
        w.string("leader-url", &self.leader_url)?;
        w.i64(self.config_offset);
        w.connector_tasks("assignment", &self.connectors, &self.tasks)?;
        if self.version == V0 {
            if !self.revoked_connectors.is_empty() || !self.revoked_tasks.is_empty() {
                return Err(w.error("revoked", "does not exist in version 0"));
            }
            if self.delay_ms != 0 {
                return Err(w.error("delay", "does not exist in version 0"));
            }
        } else {
            w.connector_tasks("revoked", &self.revoked_connectors, &self.revoked_tasks)?;
            w.i32(self.delay_ms);
        }
        Ok(w.finish())
    }

    /// Reads an assignment of any version.
    pub fn decode(buf: &[u8]) -> Result<Self, ProtocolError> {
        let mut r = Reader::new("assignment", buf);
        let version = r.version()?;
        let mut a = Self {
            version,
            error: r.i16("error")?,
            leader: r.string("leader")?,
            leader_url: r.string("leader-url")?,
            config_offset: r.i64("config-offset")?,
            ..Self::default()
        };
        // v0 ends with a non-null assignment array; v1+ fields each default when the
        // buffer ends before them (Kafka's TOLERATE_MISSING_FIELDS_WITH_DEFAULTS).
        if version == V0 || !r.at_end() {
            (a.connectors, a.tasks) = r.connector_tasks("assignment")?;
        }
        if version > V0 {
            if !r.at_end() {
                (a.revoked_connectors, a.revoked_tasks) = r.connector_tasks("revoked")?;
            }
            if !r.at_end() {
                a.delay_ms = r.i32("delay")?;
            }
        }
        Ok(a)
    }
}

/// The protocols a connect worker offers, in preference order: `sessioned` (v2) then
/// `compatible` (v1), each with the worker's metadata. The eager `default` protocol is not
/// offered: a worker that stops nothing at a rebalance cannot honour it.
pub fn protocols(
    url: &str,
    config_offset: i64,
    allocation: Option<&Assignment>,
) -> Result<Vec<(String, Bytes)>, ProtocolError> {
    [(SESSIONED, V2), (COMPATIBLE, V1)]
        .into_iter()
        .map(|(name, version)| {
            let metadata = WorkerMetadata {
                version,
                url: url.to_string(),
                config_offset,
                // Kafka stamps the nested assignment with the metadata's version.
                allocation: allocation.map(|a| Assignment {
                    version,
                    ..a.clone()
                }),
            };
            Ok((name.to_string(), metadata.encode()?))
        })
        .collect()
}

/// Builds a buffer; every length is checked against its wire type.
struct Writer {
    what: &'static str,
    out: BytesMut,
}

impl Writer {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            out: BytesMut::with_capacity(128),
        }
    }

    fn error(&self, field: &'static str, problem: impl Into<String>) -> ProtocolError {
        ProtocolError {
            what: self.what,
            field,
            problem: problem.into(),
        }
    }

    fn i16(&mut self, v: i16) {
        self.out.put_i16(v);
    }

    fn i32(&mut self, v: i32) {
        self.out.put_i32(v);
    }

    fn i64(&mut self, v: i64) {
        self.out.put_i64(v);
    }

    fn string(&mut self, field: &'static str, s: &str) -> Result<(), ProtocolError> {
        let len = i16::try_from(s.len()).map_err(|_| {
            self.error(
                field,
                format!("is {} bytes long, over the 32767 a string holds", s.len()),
            )
        })?;
        self.out.put_i16(len);
        self.out.put_slice(s.as_bytes());
        Ok(())
    }

    fn bytes(&mut self, field: &'static str, b: &[u8]) -> Result<(), ProtocolError> {
        let len = i32::try_from(b.len())
            .map_err(|_| self.error(field, format!("is {} bytes long", b.len())))?;
        self.out.put_i32(len);
        self.out.put_slice(b);
        Ok(())
    }

    fn count(&mut self, field: &'static str, n: usize) -> Result<(), ProtocolError> {
        let n = i32::try_from(n).map_err(|_| self.error(field, format!("has {n} entries")))?;
        self.out.put_i32(n);
        Ok(())
    }

    /// `[connector string, tasks [i32]]`, one entry per connector in order of first
    /// appearance (connectors, then tasks), the connector itself as task -1 first.
    fn connector_tasks(
        &mut self,
        field: &'static str,
        connectors: &[String],
        tasks: &[(String, u32)],
    ) -> Result<(), ProtocolError> {
        fn add<'a>(entries: &mut Vec<(&'a str, Vec<i32>)>, name: &'a str, task: i32) {
            match entries.iter_mut().find(|(c, _)| *c == name) {
                Some((_, ts)) => ts.push(task),
                None => entries.push((name, vec![task])),
            }
        }
        let mut entries: Vec<(&str, Vec<i32>)> = Vec::new();
        for c in connectors {
            add(&mut entries, c, CONNECTOR_TASK);
        }
        for (c, t) in tasks {
            let id = i32::try_from(*t)
                .map_err(|_| self.error(field, format!("task id {t} of {c} is over i32")))?;
            add(&mut entries, c, id);
        }
        self.count(field, entries.len())?;
        for (name, ids) in entries {
            self.string("connector", name)?;
            self.count("tasks", ids.len())?;
            for id in ids {
                self.out.put_i32(id);
            }
        }
        Ok(())
    }

    fn finish(self) -> Bytes {
        self.out.freeze()
    }
}

/// Reads untrusted bytes: every length is checked against what remains before use.
struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
}

type ConnectorsAndTasks = (Vec<String>, Vec<(String, u32)>);

impl<'a> Reader<'a> {
    fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Self { what, buf }
    }

    fn error(&self, field: &'static str, problem: impl Into<String>) -> ProtocolError {
        ProtocolError {
            what: self.what,
            field,
            problem: problem.into(),
        }
    }

    fn at_end(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.buf.len() < n {
            return Err(self.error(
                field,
                format!("is truncated: {n} bytes needed, {} remain", self.buf.len()),
            ));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, ProtocolError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    fn version(&mut self) -> Result<i16, ProtocolError> {
        let v = self.i16("version")?;
        if v < V0 {
            return Err(self.error("version", format!("{v} is not a protocol version")));
        }
        Ok(v)
    }

    fn string(&mut self, field: &'static str) -> Result<String, ProtocolError> {
        let len = self.i16(field)?;
        let len = usize::try_from(len)
            .map_err(|_| self.error(field, format!("has the negative length {len}")))?;
        let raw = self.take(field, len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.error(field, "is not UTF-8"))
    }

    fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, ProtocolError> {
        match self.i32(field)? {
            -1 => Ok(None),
            len => {
                let len = usize::try_from(len)
                    .map_err(|_| self.error(field, format!("has the negative length {len}")))?;
                self.take(field, len).map(Some)
            }
        }
    }

    /// An array count (`None` for null), refused when `min_size`-byte entries could not fit
    /// in what remains, so a forged count never drives an allocation.
    fn count(
        &mut self,
        field: &'static str,
        min_size: usize,
    ) -> Result<Option<usize>, ProtocolError> {
        let n = self.i32(field)?;
        if n == -1 {
            return Ok(None);
        }
        let n = usize::try_from(n)
            .map_err(|_| self.error(field, format!("has the negative count {n}")))?;
        if n.saturating_mul(min_size) > self.buf.len() {
            return Err(self.error(
                field,
                format!(
                    "claims {n} entries, more than the {} bytes left can hold",
                    self.buf.len()
                ),
            ));
        }
        Ok(Some(n))
    }

    fn connector_tasks(
        &mut self,
        field: &'static str,
    ) -> Result<ConnectorsAndTasks, ProtocolError> {
        let mut connectors = Vec::new();
        let mut tasks = Vec::new();
        // An entry is at least an empty string (2 bytes) and an empty array (4 bytes).
        let entries = self.count(field, 6)?.unwrap_or(0);
        for _ in 0..entries {
            let connector = self.string("connector")?;
            let ids = self.count("tasks", 4)?.unwrap_or(0);
            for _ in 0..ids {
                match self.i32("tasks")? {
                    CONNECTOR_TASK => connectors.push(connector.clone()),
                    id => {
                        let id = u32::try_from(id).map_err(|_| {
                            self.error("tasks", format!("task id {id} of {connector} is negative"))
                        })?;
                        tasks.push((connector.clone(), id));
                    }
                }
            }
        }
        Ok((connectors, tasks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: i16) -> Assignment {
        let revoked = version > V0;
        Assignment {
            version,
            error: NO_ERROR,
            leader: "worker-1".to_string(),
            leader_url: "http://w1:8083/".to_string(),
            config_offset: 42,
            connectors: vec!["a".to_string(), "b".to_string()],
            tasks: vec![
                ("a".to_string(), 0),
                ("a".to_string(), 1),
                ("c".to_string(), 0),
            ],
            revoked_connectors: if revoked {
                vec!["d".to_string()]
            } else {
                vec![]
            },
            revoked_tasks: if revoked {
                vec![("d".to_string(), 3)]
            } else {
                vec![]
            },
            delay_ms: if revoked { 5000 } else { 0 },
        }
    }

    #[test]
    fn assignments_round_trip_in_every_version() {
        for v in [V0, V1, V2] {
            let a = sample(v);
            let bytes = a.encode().expect("encodes");
            assert_eq!(Assignment::decode(&bytes).expect("decodes"), a, "v{v}");
        }
    }

    #[test]
    fn metadata_round_trips_in_every_version() {
        for v in [V0, V1, V2] {
            let m = WorkerMetadata {
                version: v,
                url: "http://w2:8083/".to_string(),
                config_offset: -1,
                allocation: (v > V0).then(|| sample(v)),
            };
            let bytes = m.encode().expect("encodes");
            assert_eq!(WorkerMetadata::decode(&bytes).expect("decodes"), m, "v{v}");
        }
        let first = WorkerMetadata {
            version: V1,
            url: "u".to_string(),
            config_offset: 7,
            allocation: None,
        };
        let bytes = first.encode().expect("encodes");
        assert_eq!(&bytes[bytes.len() - 4..], &[255, 255, 255, 255], "null");
        assert_eq!(WorkerMetadata::decode(&bytes).expect("decodes"), first);
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// Kafka's layout built field by field, independently of the encoder.
    fn kafka_assignment_v1() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1i16.to_be_bytes()); // version
        b.extend_from_slice(&0i16.to_be_bytes()); // error
        string(&mut b, "leader-id");
        string(&mut b, "http://l:8083");
        b.extend_from_slice(&99i64.to_be_bytes()); // config-offset
        b.extend_from_slice(&1i32.to_be_bytes()); // assignment: one connector
        string(&mut b, "src");
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes()); // the connector itself
        b.extend_from_slice(&4i32.to_be_bytes()); // task 4
        b.extend_from_slice(&1i32.to_be_bytes()); // revoked: one connector
        string(&mut b, "old");
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&250i32.to_be_bytes()); // delay
        b
    }

    #[test]
    fn decodes_kafkas_layout() {
        let bytes = kafka_assignment_v1();
        let a = Assignment::decode(&bytes).expect("decodes");
        assert_eq!(
            a,
            Assignment {
                version: V1,
                error: NO_ERROR,
                leader: "leader-id".to_string(),
                leader_url: "http://l:8083".to_string(),
                config_offset: 99,
                connectors: vec!["src".to_string()],
                tasks: vec![("src".to_string(), 4)],
                revoked_connectors: vec![],
                revoked_tasks: vec![("old".to_string(), 0)],
                delay_ms: 250,
            }
        );
        assert_eq!(a.encode().expect("encodes").as_ref(), bytes.as_slice());

        // Subscription v2 carrying that assignment as its allocation.
        let mut m = Vec::new();
        m.extend_from_slice(&2i16.to_be_bytes());
        string(&mut m, "http://w:8083");
        m.extend_from_slice(&5i64.to_be_bytes());
        m.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        m.extend_from_slice(&bytes);
        let meta = WorkerMetadata::decode(&m).expect("decodes");
        assert_eq!(meta.version, V2);
        assert_eq!(meta.url, "http://w:8083");
        assert_eq!(meta.config_offset, 5);
        assert_eq!(meta.allocation, Some(a));

        // v0 subscription (an eager worker): no allocation at all.
        let mut v0 = Vec::new();
        v0.extend_from_slice(&0i16.to_be_bytes());
        string(&mut v0, "http://e:8083");
        v0.extend_from_slice(&(-3i64).to_be_bytes());
        let meta = WorkerMetadata::decode(&v0).expect("decodes");
        assert_eq!((meta.version, meta.config_offset), (V0, -3));
        assert_eq!(meta.allocation, None);
    }

    #[test]
    fn missing_trailing_fields_take_their_defaults() {
        // A v1 assignment that stops after the assigned array (as Kafka tolerates).
        let full = kafka_assignment_v1();
        let cut = full.len() - 4 - (4 + 2 + 3 + 4 + 4);
        let a = Assignment::decode(&full[..cut]).expect("decodes");
        assert!(a.revoked_tasks.is_empty());
        assert_eq!(a.delay_ms, 0);
        assert_eq!(a.tasks, vec![("src".to_string(), 4)]);
    }

    #[test]
    fn refuses_truncated_and_garbage_input() {
        let full = kafka_assignment_v1();
        // Every cut inside a field fails; cuts at a v1+ field boundary are tolerated.
        // 38: after config-offset; 59: after assignment; 76: after revoked.
        let boundaries = [38, 59, 76];
        assert_eq!(full.len(), 80);
        for cut in 0..full.len() {
            let r = Assignment::decode(&full[..cut]);
            assert_eq!(r.is_ok(), boundaries.contains(&cut), "cut at {cut}: {r:?}");
        }
        let e = Assignment::decode(&full[..3]).expect_err("truncated");
        assert_eq!(
            e.to_string(),
            "connect assignment field `error`: is truncated: 2 bytes needed, 1 remain"
        );
        // A forged count that would allocate gigabytes.
        let mut forged = full[..38].to_vec();
        forged.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = Assignment::decode(&forged).expect_err("forged count");
        assert!(e.to_string().contains("claims 2147483647 entries"), "{e}");
        // A negative task id other than -1, a negative version, bad UTF-8.
        let mut bad = full.clone();
        let at = 55; // task 4 of src
        bad[at..at + 4].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(
            Assignment::decode(&bad)
                .expect_err("negative task")
                .to_string()
                .contains("task id -7 of src is negative")
        );
        assert!(Assignment::decode(&[0xff, 0xff, 0, 0]).is_err());
        let mut utf = full;
        utf[6] = 0xff;
        assert!(Assignment::decode(&utf).is_err());
        assert!(WorkerMetadata::decode(&[0, 1, 0, 5, b'a']).is_err());
        let mut nested = Vec::new();
        nested.extend_from_slice(&1i16.to_be_bytes());
        string(&mut nested, "u");
        nested.extend_from_slice(&0i64.to_be_bytes());
        nested.extend_from_slice(&3i32.to_be_bytes());
        nested.extend_from_slice(&[0, 1, 0]);
        let e = WorkerMetadata::decode(&nested).expect_err("bad allocation");
        assert!(e.to_string().starts_with("connect assignment field"), "{e}");
    }

    #[test]
    fn encoding_refuses_what_the_wire_cannot_carry() {
        let mut a = sample(V0);
        a.revoked_connectors = vec!["x".to_string()];
        assert!(a.encode().is_err());
        let mut a = sample(V1);
        a.leader = "x".repeat(40_000);
        assert!(a.encode().is_err());
        let m = WorkerMetadata {
            version: V0,
            url: String::new(),
            config_offset: 0,
            allocation: Some(sample(V0)),
        };
        assert!(m.encode().is_err());
    }

    #[test]
    fn protocols_prefer_sessioned_and_stamp_the_allocation() {
        let ps = protocols("http://w:8083", 12, Some(&sample(V1))).expect("encodes");
        let names: Vec<&str> = ps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [SESSIONED, COMPATIBLE]);
        for (name, bytes) in &ps {
            let m = WorkerMetadata::decode(bytes).expect("decodes");
            let v = protocol_version(name).expect("known");
            assert_eq!(m.version, v);
            assert_eq!(m.allocation.map(|a| a.version), Some(v));
        }
        assert_eq!(protocol_version("eager"), None);
    }
}
