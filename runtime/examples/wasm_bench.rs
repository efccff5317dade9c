//! WASM transform overhead: ns/record and records/s of a pass-through WASM transform
//! (`identity.wat`) and of the C JSON field masker (`mask-json.c`) against native
//! transforms (an identity, Kafka's `MaskField$Value`) on the same records in the same run:
//! 200-byte records in batches of 1,000.
//!
//! ```text
//! cargo run --release -p weir-runtime --example wasm_bench [-- --batches 300] [--pass-through-only]
//! ```
//!
//! The plugins are built from source by `plugins-wasm/build-examples.sh` into
//! `$WEIR_WASM_PLUGINS` (default: a directory under the system temp dir).

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use weir_connect_api::{ConfigDef, ConfigMap, ConnectRecord, Result, Transform, Value};
use weir_runtime::transforms::new_transform;
use weir_runtime::wasm::{WasmTransform, registry};

const BATCH: usize = 1000;
const RUNS: usize = 5;

/// The native pass-through the WASM identity is measured against.
struct Identity;

impl Transform for Identity {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }
    fn configure(&mut self, _config: &ConfigMap) -> Result<()> {
        Ok(())
    }
    fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        Ok(Some(record))
    }
}

fn plugins() -> PathBuf {
    let dir = std::env::var_os("WEIR_WASM_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("weir-wasm-plugins"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins-wasm/build-examples.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run build-examples.sh");
    assert!(status.success(), "build-examples.sh failed");
    dir
}

/// 1,000 records with a 200-byte value: raw bytes, or a JSON object read as a map.
fn records(json: bool) -> Vec<ConnectRecord> {
    (0..BATCH)
        .map(|i| {
            let value = if json {
                let pad = "x".repeat(120);
                Value::Map(vec![
                    (Value::String("id".into()), Value::Int64(i as i64)),
                    (
                        Value::String("email".into()),
                        Value::String(format!("user{i:06}@example.com")),
                    ),
                    (Value::String("note".into()), Value::String(pad)),
                ])
            } else {
                Value::Bytes(Bytes::from(vec![b'a' + (i % 26) as u8; 200]))
            };
            let mut r = ConnectRecord::new(
                "bench",
                None,
                Value::Bytes(Bytes::from(format!("key-{i:06}"))),
                None,
                value,
            );
            r.kafka_partition = Some(0);
            r.kafka_offset = Some(i as i64);
            r.timestamp = Some(1_700_000_000_000 + i as i64);
            r
        })
        .collect()
}

/// The median over [`RUNS`] of ns per record of `pass` over `batches` batches.
fn measure(
    batches: usize,
    input: &[ConnectRecord],
    mut pass: impl FnMut(Vec<ConnectRecord>) -> usize,
) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut out = 0;
        for _ in 0..batches {
            out += pass(input.to_vec());
        }
        let elapsed = started.elapsed();
        assert_eq!(out, batches * input.len(), "records lost");
        samples.push(elapsed.as_nanos() as f64 / (batches * input.len()) as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[RUNS / 2]
}

fn per_record(t: &dyn Transform) -> impl FnMut(Vec<ConnectRecord>) -> usize + '_ {
    move |batch| {
        batch
            .into_iter()
            .map(|r| t.apply_many(r).expect("transform").len())
            .sum()
    }
}

fn row(name: &str, ns: f64, baseline: f64) {
    println!(
        "{name:<46} {ns:>9.0} ns/record {:>12.0} records/s  {:>6.2}x of baseline  (+{:.0} ns)",
        1e9 / ns,
        ns / baseline,
        ns - baseline
    );
}

fn main() {
    let mut batches = 300usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--batches") {
        batches = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--batches N");
    }
    let dir = plugins();
    registry::global().set_dirs(vec![dir]);

    let mut identity = WasmTransform::new(Some("identity"));
    identity.configure(&ConfigMap::new()).expect("identity");
    let mut masker = WasmTransform::new(Some("mask-json"));
    let mut cfg = ConfigMap::new();
    cfg.insert("config.fields".into(), "email".into());
    masker.configure(&cfg).expect("mask-json");
    let mut native_mask =
        new_transform("org.apache.kafka.connect.transforms.MaskField$Value").expect("MaskField");
    let mut cfg = ConfigMap::new();
    cfg.insert("fields".into(), "email".into());
    cfg.insert("replacement".into(), "****".into());
    native_mask.configure(&cfg).expect("MaskField config");

    let raw = records(false);
    let json = records(true);
    println!(
        "{} batches of {BATCH} records (200-byte values), median of {RUNS} runs\n",
        batches
    );
    let clone_only = measure(batches, &raw, |b| b.len());
    let native = measure(batches, &raw, per_record(&Identity));
    let wasm_batch = measure(batches, &raw, |b| {
        identity.apply_batch(b).expect("wasm identity").0.len()
    });
    let wasm_single = measure(batches, &raw, per_record(&identity));
    println!("pass-through (values are 200 raw bytes)");
    row("copying the batch (no transform)", clone_only, clone_only);
    row("native identity, per record", native, native);
    row("WASM identity.wat, batches of 1,000", wasm_batch, native);
    row(
        "WASM identity.wat, one record per call",
        wasm_single,
        native,
    );

    if args.iter().any(|a| a == "--pass-through-only") {
        return;
    }
    let native_masked = measure(batches, &json, per_record(&*native_mask));
    let wasm_masked = measure(batches, &json, |b| {
        masker.apply_batch(b).expect("wasm masker").0.len()
    });
    let wasm_masked_single = measure(batches, &json, per_record(&masker));
    println!("\nfield masking (values are ~200-byte JSON objects read as maps)");
    row(
        "native MaskField$Value, per record",
        native_masked,
        native_masked,
    );
    row(
        "WASM mask-json.c, batches of 1,000",
        wasm_masked,
        native_masked,
    );
    row(
        "WASM mask-json.c, one record per call",
        wasm_masked_single,
        native_masked,
    );
}
