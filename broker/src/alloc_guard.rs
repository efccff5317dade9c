//! A global allocator that keeps hostile length prefixes from aborting the process.
//!
//! The `kafka-protocol` 0.18 decoders size vectors from the element counts a client sends
//! (`Vec::with_capacity(n)` before decoding any element; upstream pull requests #152, #161 and
//! #200 are still open). A frame of a few bytes can thus ask for tens of gigabytes; when the
//! system allocator refuses, Rust aborts the whole broker. The decode itself then fails at
//! its first missing element, having touched almost none of that memory.
//!
//! [`GuardedAlloc`] serves every request of [`HUGE`] bytes or more from an anonymous mapping
//! made with `MAP_NORESERVE`: the kernel hands out address space without committing memory,
//! so the allocation succeeds, the decoder fails cleanly, and the mapping is returned. Pages
//! are only backed when written, so a legitimate huge allocation behaves as before (and is
//! still subject to the OOM killer, as with overcommit). Everything smaller goes to the
//! system allocator unchanged. Install it with `#[global_allocator]` in every binary that
//! decodes untrusted frames (the `weir` binary and the protocol tests do).

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations from this size on are served by `mmap(MAP_NORESERVE)`.
pub const HUGE: usize = 1 << 30;
const PAGE: usize = 4096;

#[derive(Debug, Default, Clone, Copy)]
pub struct GuardedAlloc;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= PAGE
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` except for huge layouts, which are served by a
// fresh private anonymous mapping (page aligned, so any alignment up to PAGE holds; zero
// filled, so alloc_zeroed needs no writes) and released with munmap of the same length,
// which `dealloc` recomputes from the same layout. A failed mmap returns null, as the
// GlobalAlloc contract asks.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            map(layout.size())
        } else {
            // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            map(layout.size())
        } else {
            // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            // SAFETY: `ptr` came from `map(layout.size())` (same layout, so same length).
            unsafe {
                libc::munmap(ptr.cast(), layout.size());
            }
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        if !is_huge(&layout) && !is_huge(&new_layout) {
            // SAFETY: both layouts belong to `System`; the caller upholds `realloc`'s contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing the threshold (or staying above it): allocate, copy, free.
        // SAFETY: new_layout has a non-zero size (it is at least as large as HUGE or as
        // the old non-huge size the caller allocated).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both regions are valid for min(old, new) bytes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[allow(unsafe_code)]
fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions; the
    // result is checked against MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}
