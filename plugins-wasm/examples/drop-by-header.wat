;; drop-by-header -- a transform that drops every record having a header named `drop`
;; (exact, case-sensitive name; any value, null included) and copies every other record
;; unchanged, in order, into a new output batch (weir ABI v1, ABI.md). No config keys.
;;
;; batch  := u32 magic "WRB1" | u32 count | record*
;; record := u32 index | u8 op | u8 flags | u16 n_headers | i64 timestamp_ms
;;           | u32 topic_len | topic | u32 key_len | key | u32 value_len | value
;;           | n_headers x (u16 name_len | name | u32 value_len | value)
;; A null part has length 0xFFFFFFFF and no bytes. Every length is bounds-checked: a
;; malformed batch fails the call (weir.error + negative result) instead of reading past it.
(module
  (import "weir" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)

  (data (i32.const 16) "drop-by-header: the input batch is malformed")      ;; 44 bytes
  (data (i32.const 64) "drop-by-header: out of memory for the output batch") ;; 50 bytes

  (global $heap_base i32 (i32.const 1024))
  (global $top (mut i32) (i32.const 1024))

  (func (export "weir_abi_version") (result i32) (i32.const 1))

  (func $alloc (export "weir_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i64) (local $have i64)
    (local.set $p (i32.and (i32.add (global.get $top) (i32.const 7)) (i32.const -8)))
    (local.set $end (i64.add (i64.extend_i32_u (local.get $p)) (i64.extend_i32_u (local.get $size))))
    (local.set $have (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        (if (i64.ge_u (local.get $end) (i64.const 0xFFFFFFFF)) (then (return (i32.const 0))))
        (if (i32.eq
              (memory.grow (i32.wrap_i64 (i64.shr_u
                (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535))
                (i64.const 16))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $top (i32.wrap_i64 (local.get $end)))
    (local.get $p))

  (func (export "weir_reset") (global.set $top (global.get $heap_base)))

  ;; skips a u32-length-prefixed part (or a null one) at $p; 0 when it does not fit before $end
  (func $skip_part (param $p i32) (param $end i32) (result i32)
    (local $n i32)
    (if (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 4)) (then (return (i32.const 0))))
    (local.set $n (i32.load (local.get $p)))
    (local.set $p (i32.add (local.get $p) (i32.const 4)))
    (if (i32.eq (local.get $n) (i32.const -1)) (then (return (local.get $p))))
    (if (i32.gt_u (local.get $n) (i32.sub (local.get $end) (local.get $p))) (then (return (i32.const 0))))
    (i32.add (local.get $p) (local.get $n)))

  (func $malformed (result i64)
    (call $error (i32.const 16) (i32.const 44))
    (i64.const -1))

  (func (export "weir_transform") (param $ptr i32) (param $len i32) (result i64)
    (local $end i32) (local $p i32) (local $count i32) (local $i i32)
    (local $out i32) (local $o i32) (local $kept i32)
    (local $rec i32) (local $nh i32) (local $h i32) (local $name_len i32) (local $drop i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (if (i32.lt_u (local.get $len) (i32.const 8)) (then (return (call $malformed))))
    (if (i32.ne (i32.load (local.get $ptr)) (i32.const 0x31425257)) (then (return (call $malformed))))
    (local.set $count (i32.load offset=4 (local.get $ptr)))
    ;; the output is never larger than the input
    (local.set $out (call $alloc (local.get $len)))
    (if (i32.eqz (local.get $out))
      (then (call $error (i32.const 64) (i32.const 50)) (return (i64.const -1))))
    (i32.store (local.get $out) (i32.const 0x31425257))
    (local.set $o (i32.add (local.get $out) (i32.const 8)))
    (local.set $p (i32.add (local.get $ptr) (i32.const 8)))
    (block $done
      (loop $records
        (br_if $done (i32.eq (local.get $i) (local.get $count)))
        (local.set $rec (local.get $p))
        (if (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16)) (then (return (call $malformed))))
        (local.set $nh (i32.load16_u offset=6 (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        ;; topic, key, value
        (local.set $p (call $skip_part (local.get $p) (local.get $end)))
        (if (i32.eqz (local.get $p)) (then (return (call $malformed))))
        (local.set $p (call $skip_part (local.get $p) (local.get $end)))
        (if (i32.eqz (local.get $p)) (then (return (call $malformed))))
        (local.set $p (call $skip_part (local.get $p) (local.get $end)))
        (if (i32.eqz (local.get $p)) (then (return (call $malformed))))
        ;; headers
        (local.set $drop (i32.const 0))
        (local.set $h (i32.const 0))
        (block $headers_done
          (loop $headers
            (br_if $headers_done (i32.eq (local.get $h) (local.get $nh)))
            (if (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 2)) (then (return (call $malformed))))
            (local.set $name_len (i32.load16_u (local.get $p)))
            (local.set $p (i32.add (local.get $p) (i32.const 2)))
            (if (i32.gt_u (local.get $name_len) (i32.sub (local.get $end) (local.get $p))) (then (return (call $malformed))))
            ;; the name is exactly "drop" (0x706f7264 read little-endian)
            (if (i32.and
                  (i32.eq (local.get $name_len) (i32.const 4))
                  (i32.eq (i32.load (local.get $p)) (i32.const 0x706f7264)))
              (then (local.set $drop (i32.const 1))))
            (local.set $p (i32.add (local.get $p) (local.get $name_len)))
            (local.set $p (call $skip_part (local.get $p) (local.get $end)))
            (if (i32.eqz (local.get $p)) (then (return (call $malformed))))
            (local.set $h (i32.add (local.get $h) (i32.const 1)))
            (br $headers)))
        (if (i32.eqz (local.get $drop))
          (then
            (memory.copy (local.get $o) (local.get $rec) (i32.sub (local.get $p) (local.get $rec)))
            (local.set $o (i32.add (local.get $o) (i32.sub (local.get $p) (local.get $rec))))
            (local.set $kept (i32.add (local.get $kept) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $records)))
    (if (i32.ne (local.get $p) (local.get $end)) (then (return (call $malformed))))
    (i32.store offset=4 (local.get $out) (local.get $kept))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (local.get $o) (local.get $out)))))
)
