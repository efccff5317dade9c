//! Guest-side helpers for weir WebAssembly plugins, ABI version 1 (`plugins-wasm/ABI.md`).
//!
//! `#![no_std]` with `alloc`, no dependencies. It gives
//! - [`batch`]: a bounds-checked batch reader ([`Batch`], [`Record`]) and a writer
//!   ([`Writer`], [`OutRecord`]);
//! - [`host`]: the `weir` imports (`log`, `error`, `config`, `offset`, `http_request`);
//! - `bump` (wasm32 only): a bump allocator used as the global allocator;
//! - macros that export the entry points.
//!
//! A transform plugin (a `cdylib` built with `cargo build --release --target
//! wasm32-unknown-unknown`):
//!
//! ```ignore
//! #![no_std]
//! extern crate alloc;
//! use alloc::vec::Vec;
//! use weir_plugin_guest::{Batch, Error, Writer};
//!
//! weir_plugin_guest::runtime!();              // allocator, panic handler, weir_abi_version,
//!                                             // weir_alloc, weir_reset
//! weir_plugin_guest::transform!(transform);   // exports weir_transform
//!
//! fn transform(input: &[u8]) -> Result<Vec<u8>, Error> {
//!     let batch = Batch::parse(input)?;
//!     let mut out = Writer::with_capacity(input.len());
//!     for record in batch.records() {
//!         out.push(&record?.to_out())?;
//!     }
//!     Ok(out.finish())
//! }
//! ```
//!
//! Memory: every allocation comes from the bump arena and is freed when the host calls
//! `weir_reset` after reading a call's result, so results handed to the host (the `Vec`
//! a handler returns) stay valid until then, and nothing allocated during a call survives
//! it. Data that must live across calls (config parsed in `weir_init`) is allocated and then
//! pinned with [`keep`], or simply read again in each call.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod batch;
#[cfg(target_arch = "wasm32")]
pub mod bump;
pub mod host;

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

pub use batch::{
    Batch, Encoding, FrameError, Header, Headers, OutRecord, Record, Records, WriteError, Writer,
};

/// The ABI version this crate implements (what `weir_abi_version` returns).
pub const ABI_VERSION: i32 = 1;

/// A failure message for `weir.error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub Cow<'static, str>);

impl Error {
    /// A fixed message.
    pub const fn new(msg: &'static str) -> Error {
        Error(Cow::Borrowed(msg))
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Error {
    fn from(msg: &'static str) -> Error {
        Error::new(msg)
    }
}

impl From<String> for Error {
    fn from(msg: String) -> Error {
        Error(Cow::Owned(msg))
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Error {
        let mut s = String::from("malformed batch at byte ");
        push_decimal(&mut s, e.at as u64);
        s.push_str(": ");
        s.push_str(e.what);
        Error(Cow::Owned(s))
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Error {
        let mut s = String::from("cannot write the output batch: ");
        s.push_str(e.what);
        Error(Cow::Owned(s))
    }
}

/// Appends `v` in decimal (without pulling in `core::fmt`).
pub fn push_decimal(s: &mut String, v: u64) {
    let mut digits = [0u8; 20];
    let (mut v, mut i) = (v, digits.len());
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(d as char);
    }
}

/// `(ptr << 32) | len`, the result of `weir_transform`, `weir_test` and `weir_poll`.
pub fn pack(ptr: *const u8, len: usize) -> i64 {
    (((ptr as usize as u64) << 32) | (len as u64 & 0xFFFF_FFFF)) as i64
}

/// Hands `out` to the host: it stays in guest memory (until `weir_reset`) and its packed
/// pointer and length are returned.
pub fn pack_vec(out: Vec<u8>) -> i64 {
    let out = core::mem::ManuallyDrop::new(out);
    pack(out.as_ptr(), out.len())
}

/// Reports `msg` through `weir.error` and returns -1 (a failure of `weir_transform`,
/// `weir_test` or `weir_poll`).
pub fn fail(msg: &str) -> i64 {
    host::error(msg);
    -1
}

/// The input the host wrote for a call.
///
/// # Safety
/// `ptr`/`len` must be the arguments the host passed to the entry point (a buffer it
/// filled after `weir_alloc`); the slice must not be used after the call returns.
pub unsafe fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: per the contract above the host wrote `len` bytes at `ptr`.
    unsafe { core::slice::from_raw_parts(ptr as u32 as usize as *const u8, len as u32 as usize) }
}

/// Makes everything allocated so far survive `weir_reset` (see the crate docs). No-op off
/// wasm32.
pub fn keep() {
    #[cfg(target_arch = "wasm32")]
    bump::keep();
}

/// Defines the runtime every plugin needs (wasm32 only): the bump allocator as global
/// allocator, a panic handler reporting through `weir.error`, and the exports
/// `weir_abi_version`, `weir_alloc` and `weir_reset`. Use it once, at the crate root.
#[macro_export]
macro_rules! runtime {
    () => {
        #[cfg(target_arch = "wasm32")]
        #[global_allocator]
        static WEIR_ALLOCATOR: $crate::bump::Bump = $crate::bump::Bump;

        #[cfg(target_arch = "wasm32")]
        #[panic_handler]
        fn weir_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::bump::on_panic(info)
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_alloc(size: i32) -> i32 {
            $crate::bump::weir_alloc(size as u32 as usize) as i32
        }

        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_reset() {
            $crate::bump::reset()
        }
    };
}

/// Exports `weir_init` calling `$f: fn(&[u8]) -> Result<(), Error>` with the config JSON;
/// an error is reported through `weir.error` and refuses the instance.
#[macro_export]
macro_rules! init {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_init(ptr: i32, len: i32) -> i32 {
            // SAFETY: the host passes the config it wrote.
            let config = unsafe { $crate::input(ptr, len) };
            match $f(config) {
                Ok(()) => 0,
                Err(e) => {
                    $crate::host::error(e.message());
                    1
                }
            }
        }
    };
}

/// Exports `weir_transform` calling `$f: fn(&[u8]) -> Result<Vec<u8>, Error>` with the input
/// batch; `Ok` is the output batch, `Err` fails the call through `weir.error`.
#[macro_export]
macro_rules! transform {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_transform(ptr: i32, len: i32) -> i64 {
            // SAFETY: the host passes the batch it wrote.
            let input = unsafe { $crate::input(ptr, len) };
            match $f(input) {
                Ok(out) => $crate::pack_vec(out),
                Err(e) => $crate::fail(e.message()),
            }
        }
    };
}

/// Exports `weir_test` calling `$f: fn(&[u8]) -> Result<Vec<u8>, Error>`; `Ok` holds one
/// byte per input record (1 true, 0 false).
#[macro_export]
macro_rules! predicate {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_test(ptr: i32, len: i32) -> i64 {
            // SAFETY: the host passes the batch it wrote.
            let input = unsafe { $crate::input(ptr, len) };
            match $f(input) {
                Ok(out) => $crate::pack_vec(out),
                Err(e) => $crate::fail(e.message()),
            }
        }
    };
}

/// Exports `weir_put` calling `$put: fn(&[u8]) -> i32` (0 ok, 1 retriable, else fatal;
/// report failures with `host::error`) and, when given, `weir_flush` calling
/// `$flush: fn() -> i32`.
#[macro_export]
macro_rules! sink {
    ($put:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_put(ptr: i32, len: i32) -> i32 {
            // SAFETY: the host passes the batch it wrote.
            $put(unsafe { $crate::input(ptr, len) })
        }
    };
    ($put:path, $flush:path) => {
        $crate::sink!($put);
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_flush() -> i32 {
            $flush()
        }
    };
}

/// Exports `weir_poll` calling `$f: fn() -> Result<Option<Vec<u8>>, Error>`; `None` means
/// nothing new.
#[macro_export]
macro_rules! source {
    ($f:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn weir_poll() -> i64 {
            match $f() {
                Ok(Some(out)) => $crate::pack_vec(out),
                Ok(None) => 0,
                Err(e) => $crate::fail(e.message()),
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_results() {
        assert_eq!(pack(0x1234 as *const u8, 0x56), (0x1234i64 << 32) | 0x56);
    }

    #[test]
    fn frame_errors_become_messages() {
        let e: Error = FrameError {
            at: 12,
            what: "a key is cut off",
        }
        .into();
        assert_eq!(e.message(), "malformed batch at byte 12: a key is cut off");
        let e: Error = WriteError {
            what: "a topic is too long",
        }
        .into();
        assert_eq!(
            e.message(),
            "cannot write the output batch: a topic is too long"
        );
        let mut s = String::new();
        push_decimal(&mut s, 0);
        push_decimal(&mut s, u64::MAX);
        assert_eq!(s, "018446744073709551615");
    }
}
