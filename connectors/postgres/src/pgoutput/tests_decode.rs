//! Decoder tests over hand-built messages.

use bytes::Bytes;
use proptest::prelude::*;

use super::fixtures::{self as f, W};
use super::*;

fn text(s: &str) -> TupleValue {
    TupleValue::Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn ok(data: &Bytes, in_block: bool) -> Message {
    decode(data, in_block).expect("fixture decodes")
}

#[test]
fn begin_commit_origin() {
    assert_eq!(
        ok(&f::begin(0x16_B374_D848, 77, 42), false),
        Message::Begin(Begin {
            final_lsn: 0x16_B374_D848,
            commit_ts: 77,
            xid: 42
        })
    );
    assert_eq!(
        ok(&f::commit(10, 20, -5), false),
        Message::Commit(Commit {
            flags: 0,
            commit_lsn: 10,
            end_lsn: 20,
            commit_ts: -5
        })
    );
    assert_eq!(
        ok(&f::origin(9, "node_a"), false),
        Message::Origin(Origin {
            commit_lsn: 9,
            name: "node_a".into()
        })
    );
}

#[test]
fn relation_and_type_with_and_without_xid() {
    for xid in [None, Some(501)] {
        let Message::Relation(r) = ok(&f::relation(xid, 16384), xid.is_some()) else {
            panic!("expected a Relation");
        };
        assert_eq!(r.xid, xid);
        assert_eq!(
            (r.oid, r.namespace.as_str(), r.name.as_str()),
            (16384, "public", "t16384")
        );
        assert_eq!(r.replica_identity, ReplicaIdentity::Default);
        assert_eq!(
            r.columns,
            vec![
                RelColumn {
                    key: true,
                    name: "id".into(),
                    type_oid: 23,
                    type_modifier: -1
                },
                RelColumn {
                    key: false,
                    name: "v".into(),
                    type_oid: 25,
                    type_modifier: -1
                },
            ]
        );
        assert_eq!(
            ok(&f::type_msg(xid, 70000, "", "mood"), xid.is_some()),
            Message::Type(TypeMsg {
                xid,
                oid: 70000,
                namespace: String::new(),
                name: "mood".into()
            })
        );
    }
    for (byte, ri) in [
        (b'n', ReplicaIdentity::Nothing),
        (b'f', ReplicaIdentity::Full),
        (b'i', ReplicaIdentity::Index),
    ] {
        let data = W::new(b'R').u32(1).str("s").str("t").u8(byte).u16(0).done();
        let Message::Relation(r) = ok(&data, false) else {
            panic!("expected a Relation");
        };
        assert_eq!(r.replica_identity, ri);
        assert!(r.columns.is_empty());
    }
}

#[test]
fn insert_with_every_value_kind() {
    let data = f::insert(None, 7, &["t:1", "n", "u", "b:\x01\x02"]);
    assert_eq!(
        ok(&data, false),
        Message::Insert(Insert {
            xid: None,
            rel: 7,
            new: vec![
                text("1"),
                TupleValue::Null,
                TupleValue::Unchanged,
                TupleValue::Binary(Bytes::from_static(&[1, 2])),
            ],
        })
    );
    let Message::Insert(i) = ok(&f::insert(Some(9), 7, &["t:"]), true) else {
        panic!("expected an Insert");
    };
    assert_eq!((i.xid, i.new), (Some(9), vec![text("")]));
}

#[test]
fn update_without_with_key_and_with_full_old_row() {
    assert_eq!(
        ok(&f::update(None, 7, None, &["t:1", "t:b"]), false),
        Message::Update(Update {
            xid: None,
            rel: 7,
            old: None,
            new: vec![text("1"), text("b")]
        })
    );
    let keyed: &[&str] = &["t:1", "n"];
    assert_eq!(
        ok(
            &f::update(Some(3), 7, Some((b'K', keyed)), &["t:2", "t:b"]),
            true
        ),
        Message::Update(Update {
            xid: Some(3),
            rel: 7,
            old: Some(OldTuple::Key(vec![text("1"), TupleValue::Null])),
            new: vec![text("2"), text("b")],
        })
    );
    let full: &[&str] = &["t:1", "t:a"];
    let Message::Update(u) = ok(
        &f::update(None, 7, Some((b'O', full)), &["t:1", "u"]),
        false,
    ) else {
        panic!("expected an Update");
    };
    assert_eq!(u.old, Some(OldTuple::Full(vec![text("1"), text("a")])));
    assert_eq!(u.new, vec![text("1"), TupleValue::Unchanged]);
}

#[test]
fn delete_key_and_full() {
    assert_eq!(
        ok(&f::delete(None, 7, b'K', &["t:1", "n"]), false),
        Message::Delete(Delete {
            xid: None,
            rel: 7,
            old: OldTuple::Key(vec![text("1"), TupleValue::Null])
        })
    );
    assert_eq!(
        ok(&f::delete(Some(4), 7, b'O', &["t:1", "t:a"]), true),
        Message::Delete(Delete {
            xid: Some(4),
            rel: 7,
            old: OldTuple::Full(vec![text("1"), text("a")])
        })
    );
}

#[test]
fn truncate_options() {
    assert_eq!(
        ok(&f::truncate(None, 3, &[7, 8]), false),
        Message::Truncate(Truncate {
            xid: None,
            cascade: true,
            restart_identity: true,
            rels: vec![7, 8]
        })
    );
    let Message::Truncate(t) = ok(&f::truncate(Some(5), 0, &[7]), true) else {
        panic!("expected a Truncate");
    };
    assert_eq!(
        (t.xid, t.cascade, t.restart_identity),
        (Some(5), false, false)
    );
}

#[test]
fn logical_messages() {
    assert_eq!(
        ok(&f::message(None, true, 99, "weir", b"hello"), false),
        Message::Message(LogicalMessage {
            xid: None,
            transactional: true,
            lsn: 99,
            prefix: "weir".into(),
            content: Bytes::from_static(b"hello"),
        })
    );
    let Message::Message(m) = ok(&f::message(Some(6), false, 1, "p", b""), true) else {
        panic!("expected a Message");
    };
    assert_eq!(
        (m.xid, m.transactional, m.content.len()),
        (Some(6), false, 0)
    );
}

#[test]
fn stream_control_messages() {
    assert_eq!(
        ok(&f::stream_start(42, true), false),
        Message::StreamStart {
            xid: 42,
            first_segment: true
        }
    );
    assert_eq!(
        ok(&f::stream_start(42, false), true),
        Message::StreamStart {
            xid: 42,
            first_segment: false
        }
    );
    assert_eq!(ok(&f::stream_stop(), true), Message::StreamStop);
    assert_eq!(
        ok(&f::stream_commit(42, 100, 120, 5), false),
        Message::StreamCommit(StreamCommit {
            xid: 42,
            commit_lsn: 100,
            end_lsn: 120,
            commit_ts: 5
        })
    );
    assert_eq!(
        ok(&f::stream_abort(42, 43), false),
        Message::StreamAbort {
            xid: 42,
            subxid: 43
        }
    );
    // Protocol v4 (`streaming 'parallel'`) adds abort_lsn and abort_ts.
    let v4 = W::new(b'A').u32(42).u32(42).u64(300).i64(8).done();
    assert_eq!(
        ok(&v4, false),
        Message::StreamAbort {
            xid: 42,
            subxid: 42
        }
    );
    let partial = W::new(b'A').u32(42).u32(42).u32(1).done();
    assert!(matches!(
        decode(&partial, false),
        Err(DecodeError::Truncated {
            message: "Stream Abort",
            offset: 9,
            field: "abort_lsn",
            ..
        })
    ));
}

#[test]
fn two_phase_messages_are_refused() {
    for (tag, name) in [
        (b'b', "Begin Prepare"),
        (b'P', "Prepare"),
        (b'K', "Commit Prepared"),
        (b'r', "Rollback Prepared"),
        (b'p', "Stream Prepare"),
    ] {
        let err = decode(&W::new(tag).u64(1).done(), false).expect_err("two-phase is refused");
        assert_eq!(err, DecodeError::TwoPhase { message: name });
        assert!(
            err.to_string()
                .contains("two-phase decoding is not enabled"),
            "{err}"
        );
    }
}

#[test]
fn empty_unknown_and_trailing_bytes() {
    assert_eq!(decode(&Bytes::new(), false), Err(DecodeError::Empty));
    assert_eq!(
        decode(&Bytes::from_static(b"Z"), false),
        Err(DecodeError::UnknownType { tag: b'Z' })
    );
    let long = W::new(b'E').u8(0).done();
    let err = decode(&long, false).expect_err("trailing byte");
    assert_eq!(
        err.to_string(),
        "pgoutput Stream Stop message is malformed at byte 1: 1 unexpected bytes after the message"
    );
}

#[test]
fn every_truncation_is_an_error_naming_type_and_offset() {
    let fixtures: Vec<(Bytes, bool)> = vec![
        (f::begin(1, 2, 3), false),
        (f::commit(1, 2, 3), false),
        (f::origin(1, "o"), false),
        (f::relation(None, 5), false),
        (f::relation(Some(9), 5), true),
        (f::type_msg(Some(9), 5, "s", "t"), true),
        (f::insert(Some(9), 5, &["t:abc", "n", "b:x"]), true),
        (f::update(None, 5, Some((b'O', &["t:a"])), &["t:b"]), false),
        (f::delete(None, 5, b'K', &["t:a"]), false),
        (f::truncate(Some(9), 1, &[1, 2]), true),
        (f::message(Some(9), true, 1, "p", b"body"), true),
        (f::stream_start(1, true), false),
        (f::stream_commit(1, 2, 3, 4), false),
        (f::stream_abort(1, 2), false),
    ];
    for (data, in_block) in fixtures {
        let name = ok(&data, in_block).kind();
        for cut in 1..data.len() {
            let err = decode(&data.slice(..cut), in_block).expect_err("truncated input fails");
            let msg = err.to_string();
            assert!(msg.contains(&format!("pgoutput {name} message")), "{msg}");
            let offset = match err {
                DecodeError::Truncated { offset, .. } | DecodeError::Malformed { offset, .. } => {
                    offset
                }
                other => panic!("unexpected error {other:?}"),
            };
            assert!(offset <= cut, "{msg}: offset past the end");
            assert!(msg.contains(&format!("at byte {offset}")), "{msg}");
        }
    }
}

#[test]
fn truncated_field_reports_its_offset() {
    let data = f::insert(None, 5, &["t:abcdef"]);
    let err = decode(&data.slice(..data.len() - 2), false).expect_err("truncated value");
    assert_eq!(
        err,
        DecodeError::Truncated {
            message: "Insert",
            offset: 13,
            field: "text column value",
            needed: 6,
            available: 4,
        }
    );
}

#[test]
fn malformed_fields() {
    let bad_marker = W::new(b'I').u32(5).u8(b'X').done();
    assert_eq!(
        decode(&bad_marker, false)
            .expect_err("bad marker")
            .to_string(),
        "pgoutput Insert message is malformed at byte 5: new tuple marker is 0x58, expected one of N"
    );
    let negative = W::new(b'I').u32(5).u8(b'N').u16(1).u8(b't').i32(-1).done();
    assert!(matches!(
        decode(&negative, false),
        Err(DecodeError::Malformed {
            message: "Insert",
            offset: 9,
            ..
        })
    ));
    let no_nul = W::new(b'O').u64(1).raw(b"abc").done();
    assert!(matches!(
        decode(&no_nul, false),
        Err(DecodeError::Malformed {
            message: "Origin",
            offset: 9,
            ..
        })
    ));
    let bad_utf8 = W::new(b'O').u64(1).raw(&[0xff, 0]).done();
    assert!(matches!(
        decode(&bad_utf8, false),
        Err(DecodeError::Malformed { offset: 9, .. })
    ));
    let huge_truncate = W::new(b'T').u32(u32::MAX).u8(0).done();
    assert!(matches!(
        decode(&huge_truncate, false),
        Err(DecodeError::Malformed {
            message: "Truncate",
            offset: 1,
            ..
        })
    ));
    let bad_ri = W::new(b'R').u32(1).str("s").str("t").u8(b'x').u16(0).done();
    assert!(matches!(
        decode(&bad_ri, false),
        Err(DecodeError::Malformed {
            message: "Relation",
            offset: 9,
            ..
        })
    ));
    let bad_first = W::new(b'S').u32(1).u8(2).done();
    assert!(matches!(
        decode(&bad_first, false),
        Err(DecodeError::Malformed { offset: 5, .. })
    ));
}

#[test]
fn values_share_the_frame_buffer() {
    let data = f::insert(None, 5, &["t:shared"]);
    let Message::Insert(i) = ok(&data, false) else {
        panic!("expected an Insert");
    };
    let TupleValue::Text(v) = &i.new[0] else {
        panic!("expected text");
    };
    let frame = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    assert!(
        frame.contains(&(v.as_ptr() as usize)),
        "value is a slice of the frame"
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256), in_block: bool) {
        let _ = decode(&Bytes::from(data), in_block);
    }

    #[test]
    fn tagged_random_bodies_never_panic(
        tag in proptest::sample::select(b"BCORYIUDTMSEcAbPKrp".to_vec()),
        body in proptest::collection::vec(any::<u8>(), 0..128),
        in_block: bool,
    ) {
        let mut data = vec![tag];
        data.extend(body);
        let _ = decode(&Bytes::from(data), in_block);
    }

    #[test]
    fn mutated_fixtures_never_panic(pos in 0usize..64, byte: u8, in_block: bool) {
        for fixture in [
            f::relation(Some(1), 2),
            f::update(Some(1), 2, Some((b'K', &["t:a", "n"])), &["t:b", "u"]),
            f::message(Some(1), true, 3, "p", b"xyz"),
        ] {
            let mut data = fixture.to_vec();
            if let Some(b) = data.get_mut(pos) {
                *b = byte;
            }
            let _ = decode(&Bytes::from(data), in_block);
        }
    }
}
