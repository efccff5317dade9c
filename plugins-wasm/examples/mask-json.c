/*
 * mask-json -- a transform that masks top-level fields of JSON object values (weir ABI v1).
 *
 * Config:
 *   fields       required; comma-separated top-level field names (spaces around names are
 *                ignored; names are compared with the decoded JSON member names, so an
 *                escaped member name such as "p\u0061ss" matches `pass`).
 *   replacement  optional, default `****`; the new value of masked string fields.
 *
 * For every record whose value has encoding JSON (2) and is a JSON object, each member whose
 * name is listed (every occurrence, if a name repeats) gets a new value by its type:
 *   string -> the replacement string,  number -> 0,  true / false -> false,
 *   null -> null (unchanged),  object / array -> null.
 * Everything else of the record (and every other record: null or non-JSON values, JSON
 * values that are not objects) is passed through unchanged; the value keeps encoding 2 and
 * its original whitespace. A JSON value that does not parse fails the call with a message
 * naming the record's index.
 */
#define WEIR_PLUGIN_IMPLEMENTATION
#include "weir_plugin.h"

#define MAX_FIELDS 1024

static weir_bytes fields[MAX_FIELDS];
static uint32_t n_fields;
static weir_bytes replacement_json; /* the replacement as a JSON string literal */
static int configured;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Reads the config into the arena; `keep` makes it permanent (weir_init). 0 = ok, -1 after
 * weir.error. */
static int configure(int keep) {
    weir_bytes list, repl;
    int rc = weir_config_alloc("fields", &list);
    if (rc < 0) return (int)weir_fail("mask-json: out of memory reading the config");
    if (rc == 0)
        return (int)weir_fail("mask-json: the config key `fields` is required "
                              "(comma-separated top-level field names)");
    n_fields = 0;
    uint32_t i = 0;
    while (i <= list.len) {
        uint32_t start = i;
        while (i < list.len && list.ptr[i] != ',') i++;
        uint32_t s = start, e = i;
        while (s < e && is_space(list.ptr[s])) s++;
        while (e > s && is_space(list.ptr[e - 1])) e--;
        if (e > s) {
            if (n_fields == MAX_FIELDS) return (int)weir_fail("mask-json: `fields` names more than 1024 fields");
            fields[n_fields++] = weir_bytes_of(list.ptr + s, e - s);
        }
        i++; /* past the comma (or the end) */
    }
    if (n_fields == 0) return (int)weir_fail("mask-json: the config key `fields` names no field");
    rc = weir_config_alloc("replacement", &repl);
    if (rc < 0) return (int)weir_fail("mask-json: out of memory reading the config");
    if (rc == 0) repl = weir_cstr("****");
    weir_buf json = {0};
    weir_buf_json_string(&json, repl.ptr, repl.len);
    if (json.failed) return (int)weir_fail("mask-json: out of memory reading the config");
    replacement_json = weir_bytes_of(json.ptr, json.len);
    if (keep) {
        weir_arena_keep();
        configured = 1;
    }
    return 0;
}

WEIR_EXPORT("weir_init") int32_t weir_init(uint32_t cfg_ptr, uint32_t cfg_len) {
    (void)cfg_ptr;
    (void)cfg_len;
    return configure(1) < 0 ? 1 : 0;
}

/* 1 when the member name token [tok, tok_end) is one of the fields; -1 when out of memory. */
static int listed(const uint8_t *tok, const uint8_t *tok_end) {
    uint32_t raw = (uint32_t)(tok_end - tok) - 2;
    weir_bytes name = weir_bytes_of(tok + 1, raw);
    for (uint32_t i = 0; i < raw; i++) {
        if (tok[1 + i] == '\\') { /* escaped: decode once */
            uint8_t *tmp = (uint8_t *)weir_malloc(raw);
            if (!tmp) return -1;
            name = weir_bytes_of(tmp, weir_json_unescape(tok, tok_end, tmp));
            break;
        }
    }
    for (uint32_t f = 0; f < n_fields; f++)
        if (weir_bytes_eq(name, fields[f].ptr, fields[f].len)) return 1;
    return 0;
}

enum { MASK_UNCHANGED = 0, MASK_CHANGED = 1, MASK_MALFORMED = -1, MASK_OOM = -2 };

/* Masks the JSON value [v, v + len). On MASK_CHANGED `*out` holds the new value (arena); on
 * MASK_MALFORMED `*err_at` is the offset near which parsing failed. */
static int mask(const uint8_t *v, uint32_t len, weir_bytes *out, uint32_t *err_at) {
    const uint8_t *end = v + len, *p = weir_json_ws(v, end), *after;
#define MALFORMED(at) do { *err_at = (uint32_t)((at) - v); return MASK_MALFORMED; } while (0)
    if (p >= end) MALFORMED(p);
    if (*p != '{') { /* another JSON value: untouched, but it must parse */
        const uint8_t *q = weir_json_value_end(p, end);
        if (!q) MALFORMED(p);
        if (weir_json_ws(q, end) != end) MALFORMED(weir_json_ws(q, end));
        return MASK_UNCHANGED;
    }
    weir_buf buf = {0};
    const uint8_t *copied = v; /* input up to here is already in buf (when changed) */
    int changed = 0;
    p = weir_json_ws(p + 1, end);
    if (p < end && *p == '}') {
        after = p + 1;
    } else {
        for (;;) {
            const uint8_t *name = p, *name_end = weir_json_string_end(p, end);
            if (!name_end) MALFORMED(p);
            p = weir_json_ws(name_end, end);
            if (p >= end || *p != ':') MALFORMED(p);
            const uint8_t *val = weir_json_ws(p + 1, end);
            const uint8_t *val_end = weir_json_value_end(val, end);
            if (!val_end) MALFORMED(val);
            int hit = listed(name, name_end);
            if (hit < 0) return MASK_OOM;
            if (hit) {
                if (!changed) weir_buf_reserve(&buf, len + replacement_json.len);
                changed = 1;
                weir_buf_append(&buf, copied, (uint32_t)(val - copied));
                switch (*val) {
                case '"': weir_buf_append(&buf, replacement_json.ptr, replacement_json.len); break;
                case 't': case 'f': weir_buf_str(&buf, "false"); break;
                case 'n': case '{': case '[': weir_buf_str(&buf, "null"); break;
                default: weir_buf_str(&buf, "0"); break; /* a number */
                }
                copied = val_end;
            }
            p = weir_json_ws(val_end, end);
            if (p >= end) MALFORMED(p);
            if (*p == ',') { p = weir_json_ws(p + 1, end); continue; }
            if (*p != '}') MALFORMED(p);
            after = p + 1;
            break;
        }
    }
    if (weir_json_ws(after, end) != end) MALFORMED(weir_json_ws(after, end));
#undef MALFORMED
    if (!changed) return MASK_UNCHANGED;
    weir_buf_append(&buf, copied, (uint32_t)(end - copied));
    if (buf.failed) return MASK_OOM;
    *out = weir_bytes_of(buf.ptr, buf.len);
    return MASK_CHANGED;
}

WEIR_EXPORT("weir_transform") int64_t weir_transform(uint32_t ptr, uint32_t len) {
    if (!configured && configure(0) < 0) return -1;
    weir_reader in;
    weir_record rec;
    weir_writer out;
    int more;
    if (weir_reader_init(&in, (const void *)(uintptr_t)ptr, len) < 0) {
        weir_msg m = {0};
        return weir_msg_fail(weir_msg_str(weir_msg_str(&m, "mask-json: malformed input batch: "), in.error));
    }
    if (weir_writer_start(&out, len + len / 8) < 0) return weir_fail("mask-json: out of memory");
    while ((more = weir_reader_next(&in, &rec)) > 0) {
        if (weir_is_null(rec.value) || weir_value_encoding(&rec) != WEIR_ENC_JSON) {
            weir_writer_copy(&out, &rec);
            continue;
        }
        weir_bytes masked;
        uint32_t err_at = 0;
        int rc = mask(rec.value.ptr, rec.value.len, &masked, &err_at);
        if (rc == MASK_MALFORMED) {
            weir_msg m = {0};
            weir_msg_str(&m, "mask-json: record ");
            weir_msg_u64(&m, rec.index);
            weir_msg_str(&m, ": the value is not valid JSON (near byte ");
            weir_msg_u64(&m, err_at);
            weir_msg_str(&m, " of ");
            weir_msg_u64(&m, rec.value.len);
            weir_msg_str(&m, ")");
            return weir_msg_fail(&m);
        }
        if (rc == MASK_OOM) return weir_fail("mask-json: out of memory");
        if (rc == MASK_UNCHANGED) {
            weir_writer_copy(&out, &rec);
        } else {
            rec.value = masked;
            weir_writer_record(&out, &rec);
        }
    }
    if (more < 0) {
        weir_msg m = {0};
        weir_msg_str(&m, "mask-json: malformed input batch: ");
        weir_msg_str(&m, in.error);
        weir_msg_str(&m, " (byte ");
        weir_msg_u64(&m, in.error_at);
        weir_msg_str(&m, ")");
        return weir_msg_fail(&m);
    }
    return weir_writer_finish(&out);
}
