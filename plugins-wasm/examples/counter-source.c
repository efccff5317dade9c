/*
 * counter-source -- a source that counts 0, 1, 2, ... into a topic (weir ABI v1).
 *
 * Config:
 *   topic       required; the topic every record goes to.
 *   count       optional, default unlimited; how many records to produce in total (records
 *               0 .. count-1). Once reached, weir_poll returns 0 (nothing new) for good.
 *   batch.size  optional, default 100 (1 .. 100000); records per poll at most.
 *
 * Source partition `{"counter":"<topic>"}`; offset `{"next":N}`, N being the next number to
 * produce. On its first poll the source asks weir.offset for that partition and resumes from
 * `next` (0 when nothing was committed), so a restarted task neither skips nor repeats
 * committed records. Record N: key = N in decimal (encoding string), value = `{"n":N}`
 * (encoding JSON), no timestamp, headers `weir.source.partition` = the partition and
 * `weir.source.offset` = `{"next":N+1}` (the host removes both and commits the offset).
 */
#define WEIR_PLUGIN_IMPLEMENTATION
#include "weir_plugin.h"

static weir_bytes topic;
static weir_bytes partition; /* {"counter":"<topic>"} */
static uint64_t count = UINT64_MAX;
static uint32_t batch_size = 100;
static uint64_t next_n;
static int resumed, configured;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* An optional unsigned config value; 0 = ok (unset leaves *out alone), -1 after weir.error. */
static int config_u64(const char *key, uint64_t *out) {
    weir_bytes v;
    int rc = weir_config_alloc(key, &v);
    if (rc < 0) return (int)weir_fail("counter-source: out of memory reading the config");
    if (rc == 0) return 0;
    const uint8_t *s = v.ptr, *e = v.ptr + v.len;
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
    if (weir_parse_u64(s, (uint32_t)(e - s), out) < 0) {
        weir_msg m = {0};
        weir_msg_str(&m, "counter-source: the config key `");
        weir_msg_str(&m, key);
        weir_msg_str(&m, "` must be a non-negative integer, not \"");
        weir_msg_bytes(&m, v.ptr, v.len);
        weir_msg_str(&m, "\"");
        return (int)weir_msg_fail(&m);
    }
    return 0;
}

static int configure(void) {
    int rc = weir_config_alloc("topic", &topic);
    if (rc < 0) return (int)weir_fail("counter-source: out of memory reading the config");
    if (rc == 0 || topic.len == 0) return (int)weir_fail("counter-source: the config key `topic` is required");
    if (config_u64("count", &count) < 0) return -1;
    uint64_t bs = batch_size;
    if (config_u64("batch.size", &bs) < 0) return -1;
    if (bs < 1 || bs > 100000) return (int)weir_fail("counter-source: `batch.size` must be between 1 and 100000");
    batch_size = (uint32_t)bs;
    weir_buf p = {0};
    weir_buf_str(&p, "{\"counter\":");
    weir_buf_json_string(&p, topic.ptr, topic.len);
    weir_buf_str(&p, "}");
    if (p.failed) return (int)weir_fail("counter-source: out of memory reading the config");
    partition = weir_bytes_of(p.ptr, p.len);
    weir_arena_keep();
    configured = 1;
    return 0;
}

WEIR_EXPORT("weir_init") int32_t weir_init(uint32_t cfg_ptr, uint32_t cfg_len) {
    (void)cfg_ptr;
    (void)cfg_len;
    return configure() < 0 ? 1 : 0;
}

/* Reads `next` from a committed offset object; 0 = ok, -1 = not there or not an integer. */
static int parse_offset(weir_bytes off, uint64_t *out) {
    const uint8_t *end = off.ptr + off.len, *p = weir_json_ws(off.ptr, end);
    if (p >= end || *p != '{') return -1;
    p = weir_json_ws(p + 1, end);
    if (p < end && *p == '}') return -1;
    for (;;) {
        const uint8_t *name = p, *name_end = weir_json_string_end(p, end);
        if (!name_end) return -1;
        p = weir_json_ws(name_end, end);
        if (p >= end || *p != ':') return -1;
        const uint8_t *val = weir_json_ws(p + 1, end), *val_end = weir_json_value_end(val, end);
        if (!val_end) return -1;
        if (weir_json_string_eq(name, name_end, "next", 4) == 1) {
            if (*val == '"') /* tolerate "next":"42" */
                return weir_parse_u64(val + 1, (uint32_t)(val_end - val) - 2, out);
            return weir_parse_u64(val, (uint32_t)(val_end - val), out);
        }
        p = weir_json_ws(val_end, end);
        if (p >= end || *p != ',') return -1;
        p = weir_json_ws(p + 1, end);
    }
}

WEIR_EXPORT("weir_poll") int64_t weir_poll(void) {
    if (!configured && configure() < 0) return -1;
    if (!resumed) {
        weir_bytes off;
        int rc = weir_offset_alloc(partition, &off);
        if (rc < 0) return weir_fail("counter-source: out of memory reading the committed offset");
        if (rc > 0 && parse_offset(off, &next_n) < 0) {
            weir_msg m = {0};
            weir_msg_str(&m, "counter-source: the committed offset ");
            weir_msg_bytes(&m, off.ptr, off.len);
            weir_msg_str(&m, " has no integer `next`");
            return weir_msg_fail(&m);
        }
        resumed = 1;
        weir_msg m = {0};
        weir_msg_str(&m, "counter-source: producing to ");
        weir_msg_bytes(&m, topic.ptr, topic.len);
        weir_msg_str(&m, " from ");
        weir_msg_u64(&m, next_n);
        weir_msg_log(WEIR_LOG_INFO, &m);
    }
    if (next_n >= count) return 0;
    uint64_t n = count - next_n;
    if (n > batch_size) n = batch_size;

    weir_writer out;
    uint64_t hint = n * (96u + topic.len + partition.len);
    if (weir_writer_start(&out, hint > (16u << 20) ? (16u << 20) : (uint32_t)hint) < 0)
        return weir_fail("counter-source: out of memory");
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        uint64_t v = next_n + i;
        char key[20], value[32], offset[40];
        uint32_t key_len = weir_fmt_u64(key, v), value_len = 0, offset_len = 0;
        weir_memcpy(value, "{\"n\":", 5);
        value_len = 5 + weir_fmt_u64(value + 5, v);
        value[value_len++] = '}';
        weir_memcpy(offset, "{\"next\":", 8);
        offset_len = 8 + weir_fmt_u64(offset + 8, v + 1);
        offset[offset_len++] = '}';

        weir_record r;
        weir_record_init(&r, i, topic);
        r.key = weir_bytes_of(key, key_len);
        weir_set_key_encoding(&r, WEIR_ENC_STRING);
        r.value = weir_bytes_of(value, value_len);
        weir_set_value_encoding(&r, WEIR_ENC_JSON);
        weir_writer_record(&out, &r);
        weir_writer_header(&out, weir_cstr("weir.source.partition"), partition);
        weir_writer_header(&out, weir_cstr("weir.source.offset"), weir_bytes_of(offset, offset_len));
    }
    int64_t result = weir_writer_finish(&out);
    if (result >= 0) next_n += n;
    return result;
}
