use super::*;
use crate::framing::{WireRecord, decode, encode};
use crate::host::Host;

/// A guest with a bump allocator; `$body` is the rest of the module.
fn guest(body: &str) -> String {
    format!(
        r#"(module
      (import "weir" "error" (func $error (param i32 i32)))
      (import "weir" "config" (func $config (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (global $top (mut i32) (i32.const 4096))
      (data (i32.const 16) "bad config")
      (data (i32.const 32) "k")
      (func (export "weir_abi_version") (result i32) (i32.const 1))
      (func (export "weir_alloc") (param $n i32) (result i32)
        (local $p i32) (local.set $p (global.get $top))
        (global.set $top (i32.add (local.get $p) (local.get $n))) (local.get $p))
      (func (export "weir_reset") (global.set $top (i32.const 4096)))
      {body})"#
    )
}

const IDENTITY: &str = r#"(func (export "weir_transform") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $n))))"#;

fn records() -> Vec<WireRecord> {
    vec![WireRecord {
        topic: "t".into(),
        value: Some(bytes::Bytes::from_static(b"hello")),
        ..WireRecord::default()
    }]
}

fn instance(name: &str, body: &str, settings: &Settings) -> Result<Instance, PluginError> {
    from_source(name, &guest(body), settings)
}

fn from_source(name: &str, source: &str, settings: &Settings) -> Result<Instance, PluginError> {
    let host = Host::shared().expect("host");
    let plugin = host.load(name, source.as_bytes())?;
    Instance::new(&plugin, settings)
}

fn quick() -> Settings {
    Settings {
        deadline: Duration::from_millis(100),
        ..Settings::default()
    }
}

#[test]
fn identity_round_trips_batches_and_modules_are_cached() {
    let mut i = instance("identity", IDENTITY, &Settings::default()).expect("instance");
    for _ in 0..3 {
        let out = i.transform(&encode(&records())).expect("transform");
        assert_eq!(decode(&out, 10).expect("decode"), records());
    }
    let host = Host::shared().expect("host");
    let a = host.load("a", guest(IDENTITY).as_bytes()).expect("a");
    let b = host.load("b", guest(IDENTITY).as_bytes()).expect("b");
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.kind, Kind::Transform);
    assert!(a.version().starts_with("wasm-"));
}

#[test]
fn init_gets_the_config_and_may_refuse_it() {
    // weir_init fails unless config key "k" is set; the message comes through weir.error.
    let body = format!(
        r#"{IDENTITY}
        (func (export "weir_init") (param i32 i32) (result i32)
          (if (i32.lt_s (call $config (i32.const 32) (i32.const 1) (i32.const 0) (i32.const 0)) (i32.const 0))
            (then (call $error (i32.const 16) (i32.const 10)) (return (i32.const 1))))
          (i32.const 0))"#
    );
    let e = instance("picky", &body, &Settings::default()).expect_err("refused");
    assert!(
        e.to_string()
            .contains("weir_init: refused its config (code 1): bad config"),
        "{e}"
    );
    let mut settings = Settings::default();
    settings.config.insert("k".into(), "v".into());
    instance("picky", &body, &settings).expect("accepted");
}

#[test]
fn hostile_guests_are_contained() {
    let looping = IDENTITY.replace("(result i64)", "(result i64) (loop $l (br $l))");
    let mut i = instance("loop", &looping, &quick()).expect("instance");
    let e = i.transform(&encode(&records())).expect_err("deadline");
    assert!(
        e.to_string()
            .contains("WASM plugin loop, weir_transform: ran past its deadline of 100 ms"),
        "{e}"
    );

    let wasi = guest(IDENTITY).replacen(
        "(module",
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        1,
    );
    let e = from_source("wasi", &wasi, &quick()).expect_err("unknown import refused");
    assert!(
        e.to_string()
            .contains("imports \"wasi_snapshot_preview1\".\"fd_write\""),
        "{e}"
    );

    let outside = IDENTITY.replace("(i64.extend_i32_u (local.get $p))", "(i64.const 4000000)");
    let mut i = instance("oob", &outside, &quick()).expect("instance");
    let e = i.transform(&encode(&records())).expect_err("out of bounds");
    assert!(e.to_string().contains("outside its memory"), "{e}");

    let grow = IDENTITY.replace(
        "(result i64)",
        "(result i64) (loop $l (drop (memory.grow (i32.const 16))) (br $l))",
    );
    let mut i = instance(
        "grow",
        &grow,
        &Settings {
            memory_bytes: 4 << 20,
            ..quick()
        },
    )
    .expect("instance");
    let e = i.transform(&encode(&records())).expect_err("memory cap");
    assert!(e.to_string().contains("memory cap is 4194304 bytes"), "{e}");

    let tables = r#"(table $t 1 funcref)
        (func (export "weir_transform") (param $p i32) (param $n i32) (result i64)
          (loop $l (drop (table.grow $t (ref.null func) (i32.const 4096))) (br $l))
          (i64.const 0))"#;
    let mut i = instance("tables", tables, &quick()).expect("instance");
    let e = i.transform(&encode(&records())).expect_err("table cap");
    assert!(
        e.to_string()
            .contains("WASM plugin tables, weir_transform: trapped"),
        "{e}"
    );

    let deep = r#"(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
        (func (export "weir_transform") (param $p i32) (param $n i32) (result i64)
          (i64.extend_i32_u (call $down (i32.const 0))))"#;
    let mut i = instance("deep", deep, &quick()).expect("instance");
    let e = i.transform(&encode(&records())).expect_err("stack");
    assert!(e.to_string().contains("stack overflow"), "{e}");

    let e = instance("none", "", &quick()).expect_err("no kind");
    assert!(e.to_string().contains("no plugin kind"), "{e}");
}

#[test]
fn predicates_sinks_and_sources_follow_their_entry_points() {
    // A predicate answering true for every record: `count` ones at 64.
    let pred = r#"(func (export "weir_test") (param $p i32) (param $n i32) (result i64)
        (memory.fill (i32.const 64) (i32.const 1) (i32.load offset=4 (local.get $p)))
        (i64.or (i64.shl (i64.const 64) (i64.const 32))
                (i64.extend_i32_u (i32.load offset=4 (local.get $p)))))"#;
    let mut i = instance("pred", pred, &quick()).expect("instance");
    let mut two = records();
    two.push(two[0].clone());
    assert_eq!(i.test(&encode(&two), 2).expect("test"), vec![true, true]);
    assert!(i.test(&encode(&two), 3).is_err());

    // A sink whose put returns the batch's record count as its status: 0 ok, 1 retry, 2 fatal.
    let sink = r#"(func (export "weir_put") (param $p i32) (param $n i32) (result i32)
        (i32.load offset=4 (local.get $p)))
        (func (export "weir_flush") (result i32) (i32.const 0))"#;
    let mut i = instance("sink", sink, &quick()).expect("instance");
    i.put(&encode(&[])).expect("ok");
    let e = i.put(&encode(&records())).expect_err("retry");
    assert!(e.is_retriable(), "{e}");
    let e = i.put(&encode(&two)).expect_err("fatal");
    assert!(
        !e.is_retriable() && e.to_string().contains("returned 2"),
        "{e}"
    );
    i.flush().expect("flush");

    // A source with nothing to say.
    let source = r#"(func (export "weir_poll") (result i64) (i64.const 0))"#;
    let mut i = instance("source", source, &quick()).expect("instance");
    assert_eq!(i.poll().expect("poll"), None);
}
