//! tag-header -- a weir WASM transform (ABI v1) written with the `weir-plugin-guest` crate.
//!
//! Adds the header `processed-by` to every record, after its existing headers; its value is
//! config key `value` (default `weir-rust`). Everything else passes unchanged: index, op,
//! timestamp, topic, key, value, encodings and the other headers.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use weir_plugin_guest::{Batch, Error, Writer, host};

weir_plugin_guest::runtime!();
weir_plugin_guest::transform!(tag_header);

const HEADER: &[u8] = b"processed-by";
const DEFAULT_VALUE: &[u8] = b"weir-rust";

fn tag_header(input: &[u8]) -> Result<Vec<u8>, Error> {
    // Read per call: one host call per batch, and nothing to keep across weir_reset.
    let value = host::config("value").unwrap_or_else(|| DEFAULT_VALUE.to_vec());
    let batch = Batch::parse(input)?;
    // a record takes at least 28 bytes, so a claimed count beyond that cannot be real
    let records = (batch.count() as usize).min(input.len() / 28);
    let extra = (HEADER.len() + value.len() + 6).saturating_mul(records);
    let mut out = Writer::with_capacity(input.len().saturating_add(extra));
    for record in batch.records() {
        out.push(&record?.to_out())?;
        out.header(HEADER, Some(&value))?;
    }
    Ok(out.finish())
}
