;; identity -- a transform that passes every record through unchanged (weir ABI v1, ABI.md).
;;
;; The output batch may be any valid batch in guest memory; the input batch already is one,
;; with each record carrying its own index, so weir_transform returns the input buffer
;; itself: (ptr << 32) | len. No config keys.
(module
  (memory (export "memory") 1)

  ;; bump arena: [heap_base, top); weir_reset rewinds it
  (global $heap_base i32 (i32.const 1024))
  (global $top (mut i32) (i32.const 1024))

  (func (export "weir_abi_version") (result i32) (i32.const 1))

  ;; size bytes, 8-aligned; grows memory as needed; 0 when it cannot
  (func (export "weir_alloc") (param $size i32) (result i32)
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

  (func (export "weir_transform") (param $ptr i32) (param $len i32) (result i64)
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
      (i64.extend_i32_u (local.get $len))))
)
