//! A bump allocator over the guest's linear memory (wasm32 only).
//!
//! The arena starts at the linker's `__heap_base` and grows memory with `memory.grow` as
//! needed; allocation failure returns null (`weir_alloc` then returns 0) instead of
//! trapping. [`reset`] (the `weir_reset` export) rewinds it to its floor after the host read
//! a call's result; [`keep`] raises the floor so what was allocated so far (say, config read
//! in `weir_init`) survives resets. `dealloc` only gives back the newest allocation, and
//! `realloc` of the newest allocation grows in place, so a `Vec` being filled does not copy.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static TOP: AtomicUsize = AtomicUsize::new(0);
static FLOOR: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" {
    /// Defined by wasm-ld: the first byte after static data and the stack.
    static __heap_base: u8;
}

fn top() -> usize {
    let t = TOP.load(Relaxed);
    if t != 0 {
        return t;
    }
    let base = (&raw const __heap_base as usize + 15) & !15;
    TOP.store(base, Relaxed);
    FLOOR.store(base, Relaxed);
    base
}

/// Makes linear memory at least `end` bytes long.
fn ensure(end: usize) -> bool {
    let have = core::arch::wasm32::memory_size(0) as u64 * 65536;
    let end = end as u64;
    if end <= have {
        return true;
    }
    let pages = (end - have).div_ceil(65536) as usize;
    core::arch::wasm32::memory_grow(0, pages) != usize::MAX
}

/// `size` bytes aligned to `align` (a power of two), or null when memory cannot grow.
pub fn alloc_aligned(size: usize, align: usize) -> *mut u8 {
    let t = top();
    let Some(start) = t.checked_add(align - 1).map(|s| s & !(align - 1)) else {
        return ptr::null_mut();
    };
    let Some(end) = start.checked_add(size).filter(|e| *e < usize::MAX) else {
        return ptr::null_mut();
    };
    if !ensure(end) {
        return ptr::null_mut();
    }
    TOP.store(end, Relaxed);
    start as *mut u8
}

/// What `weir_alloc` does: `size` bytes, 8-aligned; 0 on failure.
pub fn weir_alloc(size: usize) -> usize {
    alloc_aligned(size, 8) as usize
}

/// What `weir_reset` does: frees everything allocated since the floor.
pub fn reset() {
    top();
    TOP.store(FLOOR.load(Relaxed), Relaxed);
}

/// Makes everything allocated so far permanent (later resets rewind only to here).
pub fn keep() {
    FLOOR.store(top(), Relaxed);
}

/// The allocator `runtime!` installs as `#[global_allocator]`.
pub struct Bump;

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc_aligned(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let p = p as usize;
        if p >= FLOOR.load(Relaxed) && p + layout.size() == TOP.load(Relaxed) {
            TOP.store(p, Relaxed);
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let at = p as usize;
        if at >= FLOOR.load(Relaxed) && at + layout.size() == TOP.load(Relaxed) {
            return match at.checked_add(new_size) {
                Some(end) if end < usize::MAX && ensure(end) => {
                    TOP.store(end, Relaxed);
                    p
                }
                _ => ptr::null_mut(),
            };
        }
        let q = alloc_aligned(new_size, layout.align());
        if !q.is_null() {
            // SAFETY: both blocks are live and distinct (q is fresh).
            unsafe { ptr::copy_nonoverlapping(p, q, layout.size().min(new_size)) };
        }
        q
    }
}

/// The panic handler `runtime!` installs: reports `panicked at <file>:<line>: <message>`
/// through `weir.error` (the message only when it is a plain string) and traps.
pub fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut msg = [0u8; 256];
    let mut n = 0;
    let mut put = |s: &[u8]| {
        for &b in s {
            if n < msg.len() {
                msg[n] = b;
                n += 1;
            }
        }
    };
    put(b"panicked");
    if let Some(loc) = info.location() {
        put(b" at ");
        put(loc.file().as_bytes());
        put(b":");
        let mut digits = [0u8; 10];
        let (mut line, mut i) = (loc.line(), digits.len());
        loop {
            i -= 1;
            digits[i] = b'0' + (line % 10) as u8;
            line /= 10;
            if line == 0 {
                break;
            }
        }
        put(&digits[i..]);
    }
    if let Some(text) = info.message().as_str() {
        put(b": ");
        put(text.as_bytes());
    }
    let text = match core::str::from_utf8(&msg[..n]) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&msg[..e.valid_up_to()]).unwrap_or("panicked"),
    };
    crate::host::error(text);
    core::arch::wasm32::unreachable()
}
