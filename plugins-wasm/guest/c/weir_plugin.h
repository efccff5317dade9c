/*
 * weir_plugin.h -- guest-side helpers for weir WebAssembly plugins, ABI version 1.
 *
 * A single C11 header for freestanding wasm32 (no libc, no WASI). The contract it implements
 * is plugins-wasm/ABI.md; read that first. Build a plugin with
 *
 *   clang --target=wasm32 -nostdlib -O2 -mbulk-memory -Wl,--no-entry -Wl,--export-dynamic \
 *         -I plugins-wasm/guest/c -o my-plugin.wasm my-plugin.c
 *
 * and use it like this (exactly one translation unit defines WEIR_PLUGIN_IMPLEMENTATION):
 *
 *   #define WEIR_PLUGIN_IMPLEMENTATION   // the arena plus the weir_abi_version, weir_alloc
 *   #include "weir_plugin.h"             // and weir_reset exports
 *
 *   WEIR_EXPORT("weir_transform") int64_t weir_transform(uint32_t ptr, uint32_t len) {
 *       weir_reader in; weir_record rec; weir_writer out; int more;
 *       if (weir_reader_init(&in, (const void *)ptr, len) != 0) return weir_fail(in.error);
 *       if (weir_writer_start(&out, len) != 0) return weir_fail("out of memory");
 *       while ((more = weir_reader_next(&in, &rec)) > 0) weir_writer_record(&out, &rec);
 *       if (more < 0) return weir_fail(in.error);
 *       return weir_writer_finish(&out);
 *   }
 *
 * Memory: every helper that allocates uses one bump arena that starts at the linker's
 * __heap_base and grows linear memory with memory.grow as needed (so multi-MB batches work up
 * to the host's memory.max.bytes). The host calls weir_reset after it has read each call's
 * result, which rewinds the arena to its floor; weir_arena_keep() raises the floor so that
 * what was allocated so far (e.g. config values read in weir_init) survives every reset.
 * Allocation failures return 0/NULL (or a negative status), never trap.
 *
 * Unused imports cost nothing: wasm-ld only imports the `weir` functions a plugin calls.
 * Everything here is `static inline`; only WEIR_PLUGIN_IMPLEMENTATION emits definitions.
 * The header needs -mbulk-memory: the copy helpers lower to memory.copy / memory.fill.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__wasm__)
#error "weir_plugin.h targets wasm32: compile with clang --target=wasm32"
#endif
#if !defined(__wasm_bulk_memory__)
#error "weir_plugin.h needs -mbulk-memory (copies lower to memory.copy; there is no libc memcpy)"
#endif

#define WEIR_FN static inline __attribute__((unused))
/** Marks a function as a module export with the given name. */
#define WEIR_EXPORT(name) __attribute__((export_name(name)))
/** Declares a function imported from the host module "weir". */
#define WEIR_IMPORT(name) __attribute__((import_module("weir"), import_name(name)))

/* ------------------------------------------------------------------------------------------
 * Constants of the ABI
 * ---------------------------------------------------------------------------------------- */

#define WEIR_ABI_VERSION 1
/** "WRB1" read as a little-endian u32: the first four bytes of every batch. */
#define WEIR_MAGIC 0x31425257u
/** The length that marks a null key, value or header value. */
#define WEIR_NULL 0xFFFFFFFFu

/* Record flag bits. */
#define WEIR_FLAG_KEY_NULL 0x01u
#define WEIR_FLAG_VALUE_NULL 0x02u
#define WEIR_FLAG_NO_TIMESTAMP 0x04u
#define WEIR_KEY_ENCODING_SHIFT 3
#define WEIR_VALUE_ENCODING_SHIFT 5

/* Encodings of a key or value (flag bits 3-4 and 5-6). */
#define WEIR_ENC_BYTES 0u
#define WEIR_ENC_STRING 1u
#define WEIR_ENC_JSON 2u

/* weir.log levels. */
#define WEIR_LOG_TRACE 0
#define WEIR_LOG_DEBUG 1
#define WEIR_LOG_INFO 2
#define WEIR_LOG_WARN 3
#define WEIR_LOG_ERROR 4

/* weir.http_request failure codes (the result is negative). */
#define WEIR_HTTP_NOT_ALLOWED (-1)  /* host not in wasm.http.allowed.hosts, or URL not http:// */
#define WEIR_HTTP_CONNECTION (-2)   /* connection refused or reset */
#define WEIR_HTTP_TIMEOUT (-3)      /* connect or read timeout */
#define WEIR_HTTP_MALFORMED (-4)    /* malformed request or response */
/** The HTTP status of a non-negative weir.http_request result. */
#define WEIR_HTTP_STATUS(result) ((int32_t)((uint64_t)(result) >> 32))
/** The full response body length of a non-negative weir.http_request result. */
#define WEIR_HTTP_BODY_LEN(result) ((uint32_t)(uint64_t)(result))

/* ------------------------------------------------------------------------------------------
 * Host imports (module "weir"); see ABI.md for the exact semantics.
 * ---------------------------------------------------------------------------------------- */

/** weir.log: one line in the worker's log at `level` (WEIR_LOG_*); `ptr`/`len` is UTF-8. */
WEIR_IMPORT("log") void weir_host_log(int32_t level, const void *ptr, uint32_t len);
/** weir.error: the message of the failure the guest is about to return. */
WEIR_IMPORT("error") void weir_host_error(const void *ptr, uint32_t len);
/** weir.config: value of config `key`; returns its length (copied only when it fits in
 *  `cap`), or -1 when the key is not set. */
WEIR_IMPORT("config")
int32_t weir_host_config(const void *key, uint32_t key_len, void *buf, uint32_t cap);
/** weir.offset (sources): last committed offset (JSON object) of the source partition
 *  `part` (JSON object); length/copy/-1 like weir.config. */
WEIR_IMPORT("offset")
int32_t weir_host_offset(const void *part, uint32_t part_len, void *buf, uint32_t cap);
/** weir.http_request (sources, sinks): sends the framed request; returns
 *  (status << 32) | body_len and copies min(body_len, cap) body bytes to `buf`, or a negative
 *  WEIR_HTTP_* code. Build the request with weir_http_begin / weir_http_send. */
WEIR_IMPORT("http_request")
int64_t weir_host_http_request(const void *req, uint32_t req_len, void *buf, uint32_t cap);

/* ------------------------------------------------------------------------------------------
 * Memory and string helpers (no libc)
 * ---------------------------------------------------------------------------------------- */

/** Copies `n` bytes (memory.copy; the regions may overlap). */
WEIR_FN void weir_memcpy(void *dst, const void *src, size_t n) { __builtin_memmove(dst, src, n); }
/** Fills `n` bytes with `byte` (memory.fill). */
WEIR_FN void weir_memset(void *dst, int byte, size_t n) { __builtin_memset(dst, byte, n); }
/** Compares `n` bytes like memcmp: <0, 0, >0. */
WEIR_FN int weir_memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return (int)x[i] - (int)y[i];
    return 0;
}
/** Length of a NUL-terminated string. */
WEIR_FN size_t weir_strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}
/** Index of the first occurrence of `needle` in `hay`, or -1. An empty needle is found at 0. */
WEIR_FN int64_t weir_find(const uint8_t *hay, uint32_t hay_len, const uint8_t *needle,
                          uint32_t needle_len) {
    if (needle_len == 0) return 0;
    if (needle_len > hay_len) return -1;
    for (uint32_t i = 0; i <= hay_len - needle_len; i++)
        if (hay[i] == needle[0] && weir_memcmp(hay + i, needle, needle_len) == 0) return i;
    return -1;
}
/** Reads / writes little-endian integers at any alignment. */
WEIR_FN uint16_t weir_get_u16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
WEIR_FN uint32_t weir_get_u32(const uint8_t *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
WEIR_FN int64_t weir_get_i64(const uint8_t *p) { int64_t v; __builtin_memcpy(&v, p, 8); return v; }
WEIR_FN void weir_put_u16(uint8_t *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
WEIR_FN void weir_put_u32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
WEIR_FN void weir_put_i64(uint8_t *p, int64_t v) { __builtin_memcpy(p, &v, 8); }

/** Writes `v` in decimal to `out` (room for 20 bytes); returns the number of bytes. */
WEIR_FN uint32_t weir_fmt_u64(char *out, uint64_t v) {
    char tmp[20];
    uint32_t n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (uint32_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}
/** Parses an unsigned decimal (digits only, no sign or spaces). 0 = ok, -1 = not a number or
 *  overflow. */
WEIR_FN int weir_parse_u64(const uint8_t *p, uint32_t len, uint64_t *out) {
    uint64_t v = 0;
    if (len == 0) return -1;
    for (uint32_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Byte strings
 * ---------------------------------------------------------------------------------------- */

/** A byte string; `len == WEIR_NULL` is null (key, value or header value). */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} weir_bytes;

/** The null byte string. */
WEIR_FN weir_bytes weir_null(void) { weir_bytes b = {0, WEIR_NULL}; return b; }
/** `len` bytes at `ptr`. */
WEIR_FN weir_bytes weir_bytes_of(const void *ptr, uint32_t len) {
    weir_bytes b = {(const uint8_t *)ptr, len};
    return b;
}
/** A NUL-terminated string, without the NUL. */
WEIR_FN weir_bytes weir_cstr(const char *s) { return weir_bytes_of(s, (uint32_t)weir_strlen(s)); }
/** 1 when `b` is null. */
WEIR_FN int weir_is_null(weir_bytes b) { return b.len == WEIR_NULL; }
/** 1 when `b` is non-null and equal to `len` bytes at `s`. */
WEIR_FN int weir_bytes_eq(weir_bytes b, const void *s, uint32_t len) {
    return b.len == len && weir_memcmp(b.ptr, s, len) == 0;
}
/** 1 when `b` is non-null and starts with `len` bytes at `prefix`. */
WEIR_FN int weir_starts_with(weir_bytes b, const void *prefix, uint32_t len) {
    return !weir_is_null(b) && b.len >= len && weir_memcmp(b.ptr, prefix, len) == 0;
}

/* ------------------------------------------------------------------------------------------
 * The bump arena
 * ---------------------------------------------------------------------------------------- */

extern unsigned char __heap_base; /* defined by wasm-ld: the first byte after data and stack */
extern uint32_t weir__arena_top;   /* next free byte; 0 before first use */
extern uint32_t weir__arena_floor; /* where weir_reset rewinds to */

WEIR_FN void weir__arena_init(void) {
    if (weir__arena_top == 0)
        weir__arena_top = weir__arena_floor = ((uint32_t)(uintptr_t)&__heap_base + 15u) & ~15u;
}
/* Makes linear memory at least `end` bytes long. */
WEIR_FN int weir__ensure(uint64_t end) {
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end <= have) return 1;
    if (end >= 0xFFFFFFFFull) return 0;
    uint64_t pages = (end - have + 65535u) / 65536u;
    return __builtin_wasm_memory_grow(0, (size_t)pages) != (size_t)-1;
}
/** Allocates `n` bytes (8-aligned) from the arena, growing memory as needed; NULL when
 *  memory cannot grow. Freed by the next weir_reset unless kept (weir_arena_keep). */
WEIR_FN void *weir_malloc(uint32_t n) {
    weir__arena_init();
    uint64_t start = ((uint64_t)weir__arena_top + 7u) & ~(uint64_t)7u;
    uint64_t end = start + n;
    if (!weir__ensure(end)) return 0;
    weir__arena_top = (uint32_t)end;
    return (void *)(uintptr_t)start;
}
/** Resizes the allocation `p` of `old_len` bytes to `new_len` bytes: in place when it is the
 *  newest allocation, else by allocating and copying. NULL on failure (`p` stays valid). */
WEIR_FN void *weir_realloc(void *p, uint32_t old_len, uint32_t new_len) {
    weir__arena_init();
    if (p && (uint32_t)(uintptr_t)p >= weir__arena_floor &&
        (uint64_t)(uintptr_t)p + old_len == weir__arena_top) {
        uint64_t end = (uint64_t)(uintptr_t)p + new_len;
        if (!weir__ensure(end)) return 0;
        weir__arena_top = (uint32_t)end;
        return p;
    }
    void *q = weir_malloc(new_len);
    if (q && p) weir_memcpy(q, p, old_len < new_len ? old_len : new_len);
    return q;
}
/** Rewinds the arena to its floor (what the exported weir_reset does). */
WEIR_FN void weir_arena_reset(void) {
    weir__arena_init();
    weir__arena_top = weir__arena_floor;
}
/** Makes everything allocated so far permanent: later resets rewind only to here. Call it at
 *  the end of weir_init after copying config into the arena. */
WEIR_FN void weir_arena_keep(void) {
    weir__arena_init();
    weir__arena_floor = weir__arena_top;
}
/** Copies `b` into the arena; a null `b` stays null. Returns 0, or -1 when out of memory. */
WEIR_FN int weir_bytes_dup(weir_bytes b, weir_bytes *out) {
    if (weir_is_null(b)) { *out = b; return 0; }
    uint8_t *p = (uint8_t *)weir_malloc(b.len);
    if (!p) return -1;
    weir_memcpy(p, b.ptr, b.len);
    *out = weir_bytes_of(p, b.len);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Growable byte buffer (in the arena)
 * ---------------------------------------------------------------------------------------- */

/** A growable buffer in the arena. Zero-initialise it (`weir_buf b = {0};`). After an
 *  allocation failure `failed` is set and further appends are ignored. */
typedef struct {
    uint8_t *ptr;
    uint32_t len;
    uint32_t cap;
    int failed;
} weir_buf;

/** Makes room for `extra` more bytes; 0 = ok, -1 = out of memory (sets `failed`). */
WEIR_FN int weir_buf_reserve(weir_buf *b, uint32_t extra) {
    if (b->failed) return -1;
    uint64_t need = (uint64_t)b->len + extra;
    if (need <= b->cap) return 0;
    uint64_t cap = b->cap ? (uint64_t)b->cap * 2 : 64;
    if (cap < need) cap = need;
    if (cap > 0xFFFF0000ull) cap = need;
    if (need > 0xFFFF0000ull) { b->failed = 1; return -1; }
    uint8_t *p = (uint8_t *)weir_realloc(b->ptr, b->cap, (uint32_t)cap);
    if (!p) { b->failed = 1; return -1; }
    b->ptr = p;
    b->cap = (uint32_t)cap;
    return 0;
}
/** Appends `n` bytes. */
WEIR_FN void weir_buf_append(weir_buf *b, const void *p, uint32_t n) {
    if (weir_buf_reserve(b, n) == 0) { weir_memcpy(b->ptr + b->len, p, n); b->len += n; }
}
/** Appends a NUL-terminated string (without the NUL). */
WEIR_FN void weir_buf_str(weir_buf *b, const char *s) { weir_buf_append(b, s, (uint32_t)weir_strlen(s)); }
/** Appends one byte. */
WEIR_FN void weir_buf_u8(weir_buf *b, uint8_t v) { weir_buf_append(b, &v, 1); }
/** Appends little-endian integers. */
WEIR_FN void weir_buf_u16(weir_buf *b, uint16_t v) { weir_buf_append(b, &v, 2); }
WEIR_FN void weir_buf_u32(weir_buf *b, uint32_t v) { weir_buf_append(b, &v, 4); }
WEIR_FN void weir_buf_i64(weir_buf *b, int64_t v) { weir_buf_append(b, &v, 8); }
/** Appends `v` in decimal. */
WEIR_FN void weir_buf_dec(weir_buf *b, uint64_t v) {
    char tmp[20];
    weir_buf_append(b, tmp, weir_fmt_u64(tmp, v));
}
/** Appends `n` bytes as a JSON string literal: quotes, `"` `\` and control characters
 *  escaped; other bytes (UTF-8) unchanged. */
WEIR_FN void weir_buf_json_string(weir_buf *b, const uint8_t *s, uint32_t n) {
    static const char hex[] = "0123456789abcdef";
    weir_buf_u8(b, '"');
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') { weir_buf_u8(b, '\\'); weir_buf_u8(b, c); }
        else if (c == '\n') weir_buf_append(b, "\\n", 2);
        else if (c == '\r') weir_buf_append(b, "\\r", 2);
        else if (c == '\t') weir_buf_append(b, "\\t", 2);
        else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            weir_buf_append(b, e, 6);
        } else weir_buf_u8(b, c);
    }
    weir_buf_u8(b, '"');
}

/* ------------------------------------------------------------------------------------------
 * Logging, errors, messages
 * ---------------------------------------------------------------------------------------- */

/** Logs a NUL-terminated message at `level` (WEIR_LOG_*). */
WEIR_FN void weir_log(int32_t level, const char *msg) {
    weir_host_log(level, msg, (uint32_t)weir_strlen(msg));
}
/** Reports `msg` through weir.error and returns -1, so `return weir_fail("...");` fails a
 *  weir_transform / weir_test / weir_poll call. (Sinks return 1 or 2 instead.) */
WEIR_FN int64_t weir_fail(const char *msg) {
    weir_host_error(msg, (uint32_t)weir_strlen(msg));
    return -1;
}

#ifndef WEIR_MSG_CAP
#define WEIR_MSG_CAP 512
#endif
/** A message built on the stack (no allocation, so it works when the arena is exhausted);
 *  text past WEIR_MSG_CAP is cut and ends in "...". Zero-initialise: `weir_msg m = {0};`. */
typedef struct {
    uint32_t len;
    char text[WEIR_MSG_CAP];
} weir_msg;

/** Appends `n` bytes. */
WEIR_FN weir_msg *weir_msg_bytes(weir_msg *m, const void *p, uint32_t n) {
    const char *s = (const char *)p;
    for (uint32_t i = 0; i < n; i++) {
        if (m->len >= WEIR_MSG_CAP) {
            m->text[WEIR_MSG_CAP - 3] = m->text[WEIR_MSG_CAP - 2] = m->text[WEIR_MSG_CAP - 1] = '.';
            break;
        }
        m->text[m->len++] = s[i];
    }
    return m;
}
/** Appends a NUL-terminated string. */
WEIR_FN weir_msg *weir_msg_str(weir_msg *m, const char *s) {
    return weir_msg_bytes(m, s, (uint32_t)weir_strlen(s));
}
/** Appends `v` in decimal. */
WEIR_FN weir_msg *weir_msg_u64(weir_msg *m, uint64_t v) {
    char tmp[20];
    return weir_msg_bytes(m, tmp, weir_fmt_u64(tmp, v));
}
/** Appends `v` in decimal with its sign. */
WEIR_FN weir_msg *weir_msg_i64(weir_msg *m, int64_t v) {
    if (v < 0) { weir_msg_bytes(m, "-", 1); return weir_msg_u64(m, (uint64_t)0 - (uint64_t)v); }
    return weir_msg_u64(m, (uint64_t)v);
}
/** Reports the message through weir.error and returns -1. */
WEIR_FN int64_t weir_msg_fail(const weir_msg *m) {
    weir_host_error(m->text, m->len);
    return -1;
}
/** Logs the message at `level`. */
WEIR_FN void weir_msg_log(int32_t level, const weir_msg *m) { weir_host_log(level, m->text, m->len); }

/* ------------------------------------------------------------------------------------------
 * Config and source offsets
 * ---------------------------------------------------------------------------------------- */

/** Copies config `key` into `buf` (no NUL added). Returns the value's length (copied only if
 *  it is <= cap), or -1 when the key is not set. */
WEIR_FN int32_t weir_config_get(const char *key, void *buf, uint32_t cap) {
    return weir_host_config(key, (uint32_t)weir_strlen(key), buf, cap);
}
/* Shared by weir_config_alloc and weir_offset_alloc: ask for the length, then copy. */
WEIR_FN int weir__fetch_alloc(int config, const void *k, uint32_t k_len, weir_bytes *out) {
    uint8_t probe[64];
    int32_t n = config ? weir_host_config(k, k_len, probe, sizeof probe)
                       : weir_host_offset(k, k_len, probe, sizeof probe);
    for (int attempt = 0; attempt < 4; attempt++) {
        if (n < 0) { *out = weir_null(); return 0; }
        uint8_t *p = (uint8_t *)weir_malloc((uint32_t)n ? (uint32_t)n : 1u);
        if (!p) return -1;
        if ((uint32_t)n <= sizeof probe) {
            weir_memcpy(p, probe, (uint32_t)n);
            *out = weir_bytes_of(p, (uint32_t)n);
            return 1;
        }
        int32_t m = config ? weir_host_config(k, k_len, p, (uint32_t)n)
                           : weir_host_offset(k, k_len, p, (uint32_t)n);
        if (m == n) { *out = weir_bytes_of(p, (uint32_t)n); return 1; }
        n = m; /* changed between the two calls: try again */
    }
    return -1;
}
/** Reads config `key` into the arena. Returns 1 when set (`*out` holds the value), 0 when not
 *  set (`*out` is null), -1 when out of memory. Keep it past the call with weir_arena_keep. */
WEIR_FN int weir_config_alloc(const char *key, weir_bytes *out) {
    return weir__fetch_alloc(1, key, (uint32_t)weir_strlen(key), out);
}
/** Sources: reads the last committed offset (a JSON object) of the source partition
 *  `partition` (a JSON object) into the arena. 1 = found, 0 = none committed, -1 = OOM. */
WEIR_FN int weir_offset_alloc(weir_bytes partition, weir_bytes *out) {
    return weir__fetch_alloc(0, partition.ptr, partition.len, out);
}

/* ------------------------------------------------------------------------------------------
 * Reading a batch
 * ---------------------------------------------------------------------------------------- */

/** One record of a batch. Pointers point into the batch buffer. */
typedef struct {
    uint32_t index;     /* position in the input batch (output: the input it came from) */
    uint8_t op;         /* Debezium op ('c','u','d','r','t') or 0; informational */
    uint8_t flags;      /* WEIR_FLAG_* and the encodings; see the accessors below */
    uint16_t n_headers; /* number of headers in `headers` */
    int64_t timestamp;  /* milliseconds; meaningless when flags has WEIR_FLAG_NO_TIMESTAMP */
    weir_bytes topic;
    weir_bytes key;     /* len == WEIR_NULL when null */
    weir_bytes value;   /* len == WEIR_NULL when null */
    const uint8_t *headers; /* the framed headers (n_headers x name/value) */
    uint32_t headers_len;
    const uint8_t *raw; /* the whole framed record */
    uint32_t raw_len;
} weir_record;

/** The key's / value's encoding (WEIR_ENC_*). */
WEIR_FN uint32_t weir_key_encoding(const weir_record *r) { return (r->flags >> WEIR_KEY_ENCODING_SHIFT) & 3u; }
WEIR_FN uint32_t weir_value_encoding(const weir_record *r) { return (r->flags >> WEIR_VALUE_ENCODING_SHIFT) & 3u; }
/** 1 when the record has a timestamp. */
WEIR_FN int weir_has_timestamp(const weir_record *r) { return !(r->flags & WEIR_FLAG_NO_TIMESTAMP); }
/** Setters used before writing a record. */
WEIR_FN void weir_set_key_encoding(weir_record *r, uint32_t enc) {
    r->flags = (uint8_t)((r->flags & ~(3u << WEIR_KEY_ENCODING_SHIFT)) | ((enc & 3u) << WEIR_KEY_ENCODING_SHIFT));
}
WEIR_FN void weir_set_value_encoding(weir_record *r, uint32_t enc) {
    r->flags = (uint8_t)((r->flags & ~(3u << WEIR_VALUE_ENCODING_SHIFT)) | ((enc & 3u) << WEIR_VALUE_ENCODING_SHIFT));
}
WEIR_FN void weir_set_timestamp(weir_record *r, int64_t ms) { r->timestamp = ms; r->flags &= (uint8_t)~WEIR_FLAG_NO_TIMESTAMP; }
WEIR_FN void weir_clear_timestamp(weir_record *r) { r->timestamp = 0; r->flags |= WEIR_FLAG_NO_TIMESTAMP; }
/** A fresh record for `topic`: null key and value (encoding bytes), no timestamp, no
 *  headers, op 0. Add headers when writing, with weir_writer_header. */
WEIR_FN void weir_record_init(weir_record *r, uint32_t index, weir_bytes topic) {
    weir_memset(r, 0, sizeof *r);
    r->index = index;
    r->flags = WEIR_FLAG_KEY_NULL | WEIR_FLAG_VALUE_NULL | WEIR_FLAG_NO_TIMESTAMP;
    r->topic = topic;
    r->key = r->value = weir_null();
}

/** A cursor over a batch. After weir_reader_init / weir_reader_next fail, `error` says why
 *  and `error_at` is the byte offset in the batch. */
typedef struct {
    const uint8_t *base, *p, *end;
    uint32_t count; /* records the batch holds */
    uint32_t read;  /* records returned so far */
    const char *error;
    uint32_t error_at;
} weir_reader;

WEIR_FN int weir__reader_error(weir_reader *r, const uint8_t *at, const char *what) {
    r->error = what;
    r->error_at = (uint32_t)(at - r->base);
    return -1;
}
/* Reads a u32-length-prefixed part (or null) at *p. */
WEIR_FN int weir__read_part(weir_reader *r, const uint8_t **p, weir_bytes *out, const char *what) {
    if (r->end - *p < 4) return weir__reader_error(r, *p, what);
    uint32_t n = weir_get_u32(*p);
    *p += 4;
    if (n == WEIR_NULL) { *out = weir_null(); return 0; }
    if ((uint32_t)(r->end - *p) < n) return weir__reader_error(r, *p - 4, what);
    *out = weir_bytes_of(*p, n);
    *p += n;
    return 0;
}

/** Starts reading the batch `len` bytes at `buf`: 0 = ok, -1 = no valid batch header. */
WEIR_FN int weir_reader_init(weir_reader *r, const void *buf, uint32_t len) {
    r->base = r->p = (const uint8_t *)buf;
    r->end = r->base + len;
    r->count = r->read = 0;
    r->error = 0;
    r->error_at = 0;
    if (len < 8) return weir__reader_error(r, r->p, "the batch is shorter than its 8-byte header");
    if (weir_get_u32(r->p) != WEIR_MAGIC) return weir__reader_error(r, r->p, "the batch does not start with \"WRB1\"");
    r->count = weir_get_u32(r->p + 4);
    r->p += 8;
    return 0;
}

/** Reads the next record into `rec`: 1 = a record, 0 = no more (the whole buffer was read),
 *  -1 = malformed (see r->error). The record's headers are checked too. */
WEIR_FN int weir_reader_next(weir_reader *r, weir_record *rec) {
    if (r->error) return -1;
    if (r->read == r->count) {
        if (r->p != r->end) return weir__reader_error(r, r->p, "bytes after the last record");
        return 0;
    }
    const uint8_t *p = r->p;
    if (r->end - p < 16) return weir__reader_error(r, p, "a record header is cut off");
    rec->raw = p;
    rec->index = weir_get_u32(p);
    rec->op = p[4];
    rec->flags = p[5];
    rec->n_headers = weir_get_u16(p + 6);
    rec->timestamp = weir_get_i64(p + 8);
    p += 16;
    const uint8_t *topic_at = p;
    if (weir__read_part(r, &p, &rec->topic, "a topic is cut off") < 0) return -1;
    if (weir_is_null(rec->topic)) return weir__reader_error(r, topic_at, "a topic is null");
    if (weir__read_part(r, &p, &rec->key, "a key is cut off") < 0) return -1;
    if (weir__read_part(r, &p, &rec->value, "a value is cut off") < 0) return -1;
    if (weir_is_null(rec->key) != !!(rec->flags & WEIR_FLAG_KEY_NULL) ||
        weir_is_null(rec->value) != !!(rec->flags & WEIR_FLAG_VALUE_NULL))
        return weir__reader_error(r, rec->raw, "the null flags disagree with the key or value lengths");
    rec->headers = p;
    for (uint32_t i = 0; i < rec->n_headers; i++) {
        if (r->end - p < 2) return weir__reader_error(r, p, "a header name is cut off");
        uint16_t name_len = weir_get_u16(p);
        p += 2;
        if ((uint32_t)(r->end - p) < name_len) return weir__reader_error(r, p - 2, "a header name is cut off");
        p += name_len;
        weir_bytes v;
        if (weir__read_part(r, &p, &v, "a header value is cut off") < 0) return -1;
    }
    rec->headers_len = (uint32_t)(p - rec->headers);
    rec->raw_len = (uint32_t)(p - rec->raw);
    r->p = p;
    r->read++;
    return 1;
}

/** One header. */
typedef struct {
    weir_bytes name;
    weir_bytes value; /* len == WEIR_NULL when null */
} weir_header;
/** A cursor over a record's headers (already validated by weir_reader_next). */
typedef struct {
    const uint8_t *p;
    uint32_t left;
} weir_header_iter;

/** Starts iterating the headers of `rec`. */
WEIR_FN weir_header_iter weir_headers(const weir_record *rec) {
    weir_header_iter it = {rec->headers, rec->n_headers};
    return it;
}
/** Reads the next header: 1 = a header, 0 = no more. */
WEIR_FN int weir_header_next(weir_header_iter *it, weir_header *h) {
    if (it->left == 0) return 0;
    uint16_t n = weir_get_u16(it->p);
    h->name = weir_bytes_of(it->p + 2, n);
    it->p += 2u + n;
    uint32_t v = weir_get_u32(it->p);
    it->p += 4;
    if (v == WEIR_NULL) h->value = weir_null();
    else { h->value = weir_bytes_of(it->p, v); it->p += v; }
    it->left--;
    return 1;
}
/** Finds the first header named `name` (NUL-terminated): 1 = found (`*value` set; it may be
 *  null), 0 = absent. `value` may be NULL. */
WEIR_FN int weir_find_header(const weir_record *rec, const char *name, weir_bytes *value) {
    weir_header_iter it = weir_headers(rec);
    weir_header h;
    uint32_t n = (uint32_t)weir_strlen(name);
    while (weir_header_next(&it, &h))
        if (weir_bytes_eq(h.name, name, n)) { if (value) *value = h.value; return 1; }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Writing a batch
 * ---------------------------------------------------------------------------------------- */

/** An output batch under construction in the arena. */
typedef struct {
    weir_buf buf;
    uint32_t count;
    uint32_t last; /* offset of the newest record, WEIR_NULL before the first */
} weir_writer;

/** Starts a batch with room for `capacity` bytes (it grows as needed). 0 = ok, -1 = OOM. */
WEIR_FN int weir_writer_start(weir_writer *w, uint32_t capacity) {
    weir_memset(w, 0, sizeof *w);
    w->last = WEIR_NULL;
    if (weir_buf_reserve(&w->buf, capacity < 8 ? 8 : capacity) < 0) return -1;
    weir_buf_u32(&w->buf, WEIR_MAGIC);
    weir_buf_u32(&w->buf, 0);
    return w->buf.failed ? -1 : 0;
}
WEIR_FN void weir__write_part(weir_buf *b, weir_bytes v) {
    weir_buf_u32(b, v.len);
    if (!weir_is_null(v)) weir_buf_append(b, v.ptr, v.len);
}
/** Appends `rec` from its fields: index, op, timestamp (and the no-timestamp flag), topic,
 *  key, value, both encodings from `flags`, and its headers (`headers`/`n_headers`, e.g.
 *  those of an input record). The null flags are derived from key/value. 0 = ok, -1 = OOM. */
WEIR_FN int weir_writer_record(weir_writer *w, const weir_record *rec) {
    weir_buf *b = &w->buf;
    uint8_t flags = (uint8_t)(rec->flags & (WEIR_FLAG_NO_TIMESTAMP | (3u << WEIR_KEY_ENCODING_SHIFT) |
                                            (3u << WEIR_VALUE_ENCODING_SHIFT)));
    if (weir_is_null(rec->key)) flags |= WEIR_FLAG_KEY_NULL;
    if (weir_is_null(rec->value)) flags |= WEIR_FLAG_VALUE_NULL;
    uint64_t size = 28ull + rec->topic.len + (weir_is_null(rec->key) ? 0 : rec->key.len) +
                    (weir_is_null(rec->value) ? 0 : rec->value.len) + rec->headers_len;
    if (size > 0xFFFF0000ull || weir_buf_reserve(b, (uint32_t)size) < 0) { b->failed = 1; return -1; }
    w->last = b->len;
    weir_buf_u32(b, rec->index);
    weir_buf_u8(b, rec->op);
    weir_buf_u8(b, flags);
    weir_buf_u16(b, rec->n_headers);
    weir_buf_i64(b, (flags & WEIR_FLAG_NO_TIMESTAMP) ? 0 : rec->timestamp);
    weir__write_part(b, rec->topic);
    weir__write_part(b, rec->key);
    weir__write_part(b, rec->value);
    if (rec->headers_len) weir_buf_append(b, rec->headers, rec->headers_len);
    w->count++;
    return b->failed ? -1 : 0;
}
/** Appends an input record unchanged (its raw bytes: same index and everything). */
WEIR_FN int weir_writer_copy(weir_writer *w, const weir_record *rec) {
    if (weir_buf_reserve(&w->buf, rec->raw_len) < 0) return -1;
    w->last = w->buf.len;
    weir_buf_append(&w->buf, rec->raw, rec->raw_len);
    w->count++;
    return 0;
}
/** Appends a header (name, value; a null `value` writes a null header value) to the newest
 *  record. 0 = ok, -1 = OOM, no record yet, or 65535 headers already. */
WEIR_FN int weir_writer_header(weir_writer *w, weir_bytes name, weir_bytes value) {
    weir_buf *b = &w->buf;
    if (w->last == WEIR_NULL || b->failed || name.len > 0xFFFFu) return -1;
    uint16_t n = weir_get_u16(b->ptr + w->last + 6);
    if (n == 0xFFFFu) return -1;
    weir_buf_u16(b, (uint16_t)name.len);
    weir_buf_append(b, name.ptr, name.len);
    weir__write_part(b, value);
    if (b->failed) return -1;
    weir_put_u16(b->ptr + w->last + 6, (uint16_t)(n + 1));
    return 0;
}
/** Packs a result pointer and length as `(ptr << 32) | len`. */
WEIR_FN int64_t weir_pack(const void *ptr, uint32_t len) {
    return (int64_t)(((uint64_t)(uint32_t)(uintptr_t)ptr << 32) | len);
}
/** Finishes the batch: writes the count and returns `(ptr << 32) | len` for weir_transform /
 *  weir_poll, or -1 after weir.error when an append ran out of memory. */
WEIR_FN int64_t weir_writer_finish(weir_writer *w) {
    if (w->buf.failed || !w->buf.ptr) return weir_fail("out of memory while writing the output batch");
    weir_put_u32(w->buf.ptr + 4, w->count);
    return weir_pack(w->buf.ptr, w->buf.len);
}

/* ------------------------------------------------------------------------------------------
 * HTTP requests (sources and sinks)
 * ---------------------------------------------------------------------------------------- */

/** One request header. */
typedef struct {
    const char *name;
    weir_bytes value;
} weir_http_header;

/** Starts a framed weir.http_request request in `req` (zero-initialised): method, url and
 *  `n` headers, then the body length placeholder. Append the body with weir_buf_append and
 *  send with weir_http_send. Returns the body's start offset, or -1 when out of memory. */
WEIR_FN int64_t weir_http_begin(weir_buf *req, const char *method, weir_bytes url,
                                const weir_http_header *headers, uint16_t n) {
    uint32_t mlen = (uint32_t)weir_strlen(method);
    weir_buf_u32(req, mlen);
    weir_buf_append(req, method, mlen);
    weir_buf_u32(req, url.len);
    weir_buf_append(req, url.ptr, url.len);
    weir_buf_u16(req, n);
    for (uint16_t i = 0; i < n; i++) {
        uint32_t nlen = (uint32_t)weir_strlen(headers[i].name);
        weir_buf_u16(req, (uint16_t)nlen);
        weir_buf_append(req, headers[i].name, nlen);
        weir_buf_u32(req, headers[i].value.len);
        weir_buf_append(req, headers[i].value.ptr, headers[i].value.len);
    }
    weir_buf_u32(req, 0);
    return req->failed ? -1 : (int64_t)req->len;
}
/** Sends the request begun at weir_http_begin (`body_start` = its result): patches the body
 *  length and calls weir.http_request, copying up to `cap` response body bytes to `resp`.
 *  Returns the import's result (see WEIR_HTTP_STATUS / WEIR_HTTP_BODY_LEN), or
 *  WEIR_HTTP_MALFORMED when the request could not be built (out of memory). */
WEIR_FN int64_t weir_http_send(weir_buf *req, uint32_t body_start, void *resp, uint32_t cap) {
    if (req->failed || body_start < 4 || body_start > req->len) return WEIR_HTTP_MALFORMED;
    weir_put_u32(req->ptr + body_start - 4, req->len - body_start);
    return weir_host_http_request(req->ptr, req->len, resp, cap);
}

/* ------------------------------------------------------------------------------------------
 * A small JSON scanner (RFC 8259): validates and skips values without allocating.
 * Functions take [p, end) and return the position after what they read, or NULL when the
 * text is malformed. They do not skip leading whitespace unless they say so.
 * ---------------------------------------------------------------------------------------- */

#ifndef WEIR_JSON_MAX_DEPTH
#define WEIR_JSON_MAX_DEPTH 1024 /* nesting deeper than this is reported as malformed */
#endif

/** Skips JSON whitespace. */
WEIR_FN const uint8_t *weir_json_ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}
WEIR_FN int weir__hex(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
/** `p` at a '"': returns the position after the closing quote. Checks escapes (including
 *  \uXXXX) and rejects raw control characters. */
WEIR_FN const uint8_t *weir_json_string_end(const uint8_t *p, const uint8_t *end) {
    if (p >= end || *p != '"') return 0;
    for (p++; p < end; p++) {
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++p >= end) return 0;
            switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': break;
            case 'u':
                if (end - p < 5) return 0;
                for (int i = 1; i <= 4; i++)
                    if (weir__hex(p[i]) < 0) return 0;
                p += 4;
                break;
            default: return 0;
            }
        }
    }
    return 0;
}
/** `p` at a number: returns the position after it. */
WEIR_FN const uint8_t *weir_json_number_end(const uint8_t *p, const uint8_t *end) {
    if (p < end && *p == '-') p++;
    if (p >= end) return 0;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (p < end && *p >= '0' && *p <= '9') p++; }
    else return 0;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    return p;
}
WEIR_FN const uint8_t *weir__json_word(const uint8_t *p, const uint8_t *end, const char *w, uint32_t n) {
    return ((uint32_t)(end - p) >= n && weir_memcmp(p, w, n) == 0) ? p + n : 0;
}
/* An object member's `"name" ws : ws` at p (after leading ws); returns the value's start. */
WEIR_FN const uint8_t *weir__json_member_name(const uint8_t *p, const uint8_t *end) {
    p = weir_json_string_end(p, end);
    if (!p) return 0;
    p = weir_json_ws(p, end);
    if (p >= end || *p != ':') return 0;
    return weir_json_ws(p + 1, end);
}
/** `p` at a value (no leading whitespace): validates it, objects and arrays included (depth up
 *  to WEIR_JSON_MAX_DEPTH, without recursion), and returns the position after it. */
WEIR_FN const uint8_t *weir_json_value_end(const uint8_t *p, const uint8_t *end) {
    uint8_t is_obj[WEIR_JSON_MAX_DEPTH / 8]; /* one bit per open container: 1 object, 0 array */
    uint32_t depth = 0;
    for (;;) {
        /* a value starts at p */
        if (p >= end) return 0;
        switch (*p) {
        case '{':
        case '[': {
            int obj = *p == '{';
            if (depth == WEIR_JSON_MAX_DEPTH) return 0;
            if (obj) is_obj[depth / 8] |= (uint8_t)(1u << (depth % 8));
            else is_obj[depth / 8] &= (uint8_t)~(1u << (depth % 8));
            depth++;
            p = weir_json_ws(p + 1, end);
            if (p < end && *p == (obj ? '}' : ']')) { p++; depth--; break; }
            if (obj && !(p = weir__json_member_name(p, end))) return 0;
            continue; /* the first element / member value */
        }
        case '"': p = weir_json_string_end(p, end); break;
        case 't': p = weir__json_word(p, end, "true", 4); break;
        case 'f': p = weir__json_word(p, end, "false", 5); break;
        case 'n': p = weir__json_word(p, end, "null", 4); break;
        default: p = weir_json_number_end(p, end); break;
        }
        /* after a value: close containers or move to the next element */
        for (;;) {
            if (!p) return 0;
            if (depth == 0) return p;
            int obj = (is_obj[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
            p = weir_json_ws(p, end);
            if (p >= end) return 0;
            if (*p == ',') {
                p = weir_json_ws(p + 1, end);
                if (obj && !(p = weir__json_member_name(p, end))) return 0;
                break; /* the next value */
            }
            if (*p != (obj ? '}' : ']')) return 0;
            p++;
            depth--;
        }
    }
}
/** Validates that [p, end) is exactly one JSON value with optional surrounding whitespace. */
WEIR_FN int weir_json_valid(const uint8_t *p, const uint8_t *end) {
    p = weir_json_value_end(weir_json_ws(p, end), end);
    return p && weir_json_ws(p, end) == end;
}
WEIR_FN uint32_t weir__utf8(uint8_t *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | (cp >> 6)); out[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12)); out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18)); out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (uint8_t)(0x80 | (cp & 0x3F)); return 4;
}
/** Decodes a string token [tok, tok_end) (quotes included, validated by
 *  weir_json_string_end) into `out`, which needs room for tok_end - tok bytes (decoding never
 *  grows a string). Returns the decoded length. Escaped surrogate pairs become one UTF-8
 *  sequence; a lone surrogate becomes U+FFFD. */
WEIR_FN uint32_t weir_json_unescape(const uint8_t *tok, const uint8_t *tok_end, uint8_t *out) {
    const uint8_t *p = tok + 1, *end = tok_end - 1;
    uint32_t n = 0;
    while (p < end) {
        if (*p != '\\') { out[n++] = *p++; continue; }
        p++;
        uint8_t c = *p++;
        switch (c) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            uint32_t cp = 0;
            for (int i = 0; i < 4; i++) cp = cp * 16 + (uint32_t)weir__hex(p[i]);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = 0;
                int ok = 1;
                for (int i = 2; i < 6; i++) {
                    int h = weir__hex(p[i]);
                    if (h < 0) { ok = 0; break; }
                    lo = lo * 16 + (uint32_t)h;
                }
                if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            n += weir__utf8(out + n, cp);
            break;
        }
        default: out[n++] = c; break; /* " \ / */
        }
    }
    return n;
}
/** 1 when the string token [tok, tok_end) decodes to exactly `len` bytes at `s`. Tokens
 *  without escapes are compared in place; others are decoded into the arena (-1 if OOM). */
WEIR_FN int weir_json_string_eq(const uint8_t *tok, const uint8_t *tok_end, const void *s, uint32_t len) {
    uint32_t raw = (uint32_t)(tok_end - tok) - 2;
    int escaped = 0;
    for (uint32_t i = 0; i < raw; i++)
        if (tok[1 + i] == '\\') { escaped = 1; break; }
    if (!escaped) return raw == len && weir_memcmp(tok + 1, s, len) == 0;
    if (len > raw) return 0;
    uint8_t *tmp = (uint8_t *)weir_malloc(raw ? raw : 1);
    if (!tmp) return -1;
    uint32_t n = weir_json_unescape(tok, tok_end, tmp);
    return n == len && weir_memcmp(tmp, s, len) == 0;
}

/* ------------------------------------------------------------------------------------------
 * The runtime exports (one translation unit defines WEIR_PLUGIN_IMPLEMENTATION)
 * ---------------------------------------------------------------------------------------- */

#ifdef WEIR_PLUGIN_IMPLEMENTATION
uint32_t weir__arena_top;
uint32_t weir__arena_floor;

/** weir_abi_version: this header implements ABI version 1. */
WEIR_EXPORT("weir_abi_version") int32_t weir_abi_version(void) { return WEIR_ABI_VERSION; }
/** weir_alloc: a buffer the host writes into; 0 when memory cannot grow. */
WEIR_EXPORT("weir_alloc") uint32_t weir_alloc(uint32_t size) {
    return (uint32_t)(uintptr_t)weir_malloc(size);
}
/** weir_reset: rewinds the arena after the host has read a call's result. */
WEIR_EXPORT("weir_reset") void weir_reset(void) { weir_arena_reset(); }
#endif /* WEIR_PLUGIN_IMPLEMENTATION */

#endif /* WEIR_PLUGIN_H */
