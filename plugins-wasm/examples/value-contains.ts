// value-contains -- a predicate (weir ABI v1, ABI.md) written in AssemblyScript.
//
// Config:
//   needle  required; a record tests true when its value's bytes contain these bytes (UTF-8
//           of the config string; an empty needle is in every non-null value).
// A null value tests false. Encodings do not matter: the raw value bytes are searched.
//
// Build (see GUEST-TOOLCHAINS.md):
//   asc value-contains.ts -o value-contains.wasm --runtime stub -O3 --use abort=
//
// The module manages its own memory: a bump arena from __heap_base that grows with
// memory.grow and returns 0 when it cannot (the stub runtime's allocator is never used: this
// file allocates no AssemblyScript objects; string literals live in static data).

@external("weir", "error")
declare function host_error(ptr: usize, len: usize): void;

@external("weir", "config")
declare function host_config(key: usize, keyLen: usize, buf: usize, cap: usize): i32;

const MAGIC: u32 = 0x31425257; // "WRB1"
const NULL_LEN: u32 = 0xffffffff;

let top: usize = 0;
let floor: usize = 0;

function arena(): void {
  if (top == 0) {
    top = (__heap_base + 15) & ~(15 as usize);
    floor = top;
  }
}

function alloc(size: usize): usize {
  arena();
  const start: u64 = ((top as u64) + 7) & ~(7 as u64);
  const end: u64 = start + (size as u64);
  const have: u64 = (memory.size() as u64) << 16;
  if (end > have) {
    if (end >= 0xffffffff) return 0;
    const pages = ((end - have + 65535) >> 16) as i32;
    if (memory.grow(pages) < 0) return 0;
  }
  top = end as usize;
  return start as usize;
}

export function weir_abi_version(): i32 {
  return 1;
}

export function weir_alloc(size: usize): usize {
  return alloc(size);
}

export function weir_reset(): void {
  arena();
  top = floor;
}

// An ASCII string literal copied into the arena as bytes; 0 when out of memory.
function bytes(s: string): usize {
  const p = alloc(s.length);
  if (p == 0) return 0;
  for (let i = 0; i < s.length; i++) store<u8>(p + i, s.charCodeAt(i) as u8);
  return p;
}

function fail(msg: string): i64 {
  const p = bytes(msg);
  if (p != 0) host_error(p, msg.length);
  return -1;
}

// The needle, read into the arena (it is freed with the call's other allocations).
let needlePtr: usize = 0;
let needleLen: i32 = 0;

function readNeedle(): bool {
  const key = bytes("needle");
  if (key == 0) return false;
  const n = host_config(key, 6, 0, 0);
  if (n < 0) return false;
  const buf = alloc(n);
  if (buf == 0) return false;
  if (host_config(key, 6, buf, n) != n) return false;
  needlePtr = buf;
  needleLen = n;
  return true;
}

export function weir_init(ptr: usize, len: usize): i32 {
  if (!readNeedle()) {
    fail("value-contains: the config key `needle` is required");
    return 1;
  }
  return 0;
}

function contains(hay: usize, hayLen: u32, needle: usize, needleLen: u32): bool {
  if (needleLen == 0) return true;
  if (needleLen > hayLen) return false;
  const first = load<u8>(needle);
  const last = hayLen - needleLen;
  for (let i: u32 = 0; i <= last; i++) {
    if (load<u8>(hay + i) != first) continue;
    let j: u32 = 1;
    while (j < needleLen && load<u8>(hay + i + j) == load<u8>(needle + j)) j++;
    if (j == needleLen) return true;
  }
  return false;
}

// Skips a u32-length-prefixed part (or a null one) at p; 0 when it does not fit before end.
function skipPart(p: usize, end: usize): usize {
  if (end - p < 4) return 0;
  const n = load<u32>(p);
  p += 4;
  if (n == NULL_LEN) return p;
  if (n > ((end - p) as u32)) return 0;
  return p + n;
}

export function weir_test(ptr: usize, len: usize): i64 {
  if (len < 8 || load<u32>(ptr) != MAGIC) return fail("value-contains: malformed input batch");
  const count = load<u32>(ptr + 4);
  // every record takes at least 28 bytes: a claimed count beyond that is malformed
  if ((count as u64) * 28 > ((len - 8) as u64)) return fail("value-contains: malformed input batch");
  if (!readNeedle()) return fail("value-contains: the config key `needle` is required");
  const out = alloc(count);
  if (out == 0 && count > 0) return fail("value-contains: out of memory");
  const end = ptr + len;
  let p = ptr + 8;
  for (let i: u32 = 0; i < count; i++) {
    if (end - p < 16) return fail("value-contains: malformed input batch");
    const headers = load<u16>(p + 6) as u32;
    p = skipPart(p + 16, end); // topic
    if (p == 0) return fail("value-contains: malformed input batch");
    p = skipPart(p, end); // key
    if (p == 0 || end - p < 4) return fail("value-contains: malformed input batch");
    const vlen = load<u32>(p);
    let hit = false;
    if (vlen != NULL_LEN) {
      if (vlen > ((end - p - 4) as u32)) return fail("value-contains: malformed input batch");
      hit = contains(p + 4, vlen, needlePtr, needleLen as u32);
    }
    p = skipPart(p, end); // value
    for (let h: u32 = 0; h < headers; h++) {
      if (p == 0 || end - p < 2) return fail("value-contains: malformed input batch");
      const nameLen = load<u16>(p) as usize;
      if (nameLen > end - p - 2) return fail("value-contains: malformed input batch");
      p = skipPart(p + 2 + nameLen, end);
    }
    if (p == 0) return fail("value-contains: malformed input batch");
    store<u8>(out + i, hit ? 1 : 0);
  }
  if (p != end) return fail("value-contains: malformed input batch");
  return ((out as i64) << 32) | (count as i64);
}
