/*
 * route-by-key -- a transform that sends records to another topic by a prefix of their key
 * (weir ABI v1).
 *
 * Config:
 *   routes  required; `prefix1:topicA,prefix2:topicB,...`. Each entry splits at its LAST
 *           colon (topic names cannot contain ':', prefixes may); spaces around the prefix and
 *           the topic are ignored; an empty prefix matches every non-null key (a catch-all).
 *
 * The key compared is: for encodings bytes (0) and string (1) the key's bytes; for JSON (2)
 * the decoded contents of a JSON string (`"abc\u0031"` is compared as `abc1`); a JSON key
 * that is not a string (object, number, ...) and a null key match nothing. The first route
 * whose prefix the key starts with sets the output record's topic; records matching no route
 * keep their topic. Everything else of the record is unchanged. A JSON string key that does
 * not parse fails the call with a message naming the record's index.
 */
#define WEIR_PLUGIN_IMPLEMENTATION
#include "weir_plugin.h"

#define MAX_ROUTES 1024

static struct {
    weir_bytes prefix;
    weir_bytes topic;
} routes[MAX_ROUTES];
static uint32_t n_routes;
static int configured;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static weir_bytes trim(const uint8_t *s, const uint8_t *e) {
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
    return weir_bytes_of(s, (uint32_t)(e - s));
}

static int configure(int keep) {
    weir_bytes list;
    int rc = weir_config_alloc("routes", &list);
    if (rc < 0) return (int)weir_fail("route-by-key: out of memory reading the config");
    if (rc == 0)
        return (int)weir_fail("route-by-key: the config key `routes` is required "
                              "(prefix1:topicA,prefix2:topicB)");
    n_routes = 0;
    const uint8_t *p = list.ptr, *end = list.ptr + list.len;
    for (;;) {
        const uint8_t *e = p;
        while (e < end && *e != ',') e++;
        weir_bytes entry = trim(p, e);
        if (entry.len) {
            const uint8_t *colon = 0;
            for (const uint8_t *c = entry.ptr; c < entry.ptr + entry.len; c++)
                if (*c == ':') colon = c;
            weir_msg m = {0};
            if (!colon) {
                weir_msg_str(&m, "route-by-key: the `routes` entry \"");
                weir_msg_bytes(&m, entry.ptr, entry.len);
                weir_msg_str(&m, "\" has no ':' (expected prefix:topic)");
                return (int)weir_msg_fail(&m);
            }
            weir_bytes topic = trim(colon + 1, entry.ptr + entry.len);
            if (topic.len == 0) {
                weir_msg_str(&m, "route-by-key: the `routes` entry \"");
                weir_msg_bytes(&m, entry.ptr, entry.len);
                weir_msg_str(&m, "\" names no topic");
                return (int)weir_msg_fail(&m);
            }
            if (n_routes == MAX_ROUTES) return (int)weir_fail("route-by-key: more than 1024 routes");
            routes[n_routes].prefix = trim(entry.ptr, colon);
            routes[n_routes].topic = topic;
            n_routes++;
        }
        if (e == end) break;
        p = e + 1;
    }
    if (n_routes == 0) return (int)weir_fail("route-by-key: the config key `routes` names no route");
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

WEIR_EXPORT("weir_transform") int64_t weir_transform(uint32_t ptr, uint32_t len) {
    if (!configured && configure(0) < 0) return -1;
    weir_reader in;
    weir_record rec;
    weir_writer out;
    int more;
    if (weir_reader_init(&in, (const void *)(uintptr_t)ptr, len) < 0) {
        weir_msg m = {0};
        return weir_msg_fail(weir_msg_str(weir_msg_str(&m, "route-by-key: malformed input batch: "), in.error));
    }
    /* a new topic may be longer than the old one */
    if (weir_writer_start(&out, len + len / 4) < 0) return weir_fail("route-by-key: out of memory");
    while ((more = weir_reader_next(&in, &rec)) > 0) {
        weir_bytes key = rec.key;
        if (!weir_is_null(key) && weir_key_encoding(&rec) == WEIR_ENC_JSON) {
            const uint8_t *end = key.ptr + key.len, *p = weir_json_ws(key.ptr, end);
            if (p < end && *p == '"') {
                const uint8_t *tok_end = weir_json_string_end(p, end);
                if (!tok_end || weir_json_ws(tok_end, end) != end) {
                    weir_msg m = {0};
                    weir_msg_str(&m, "route-by-key: record ");
                    weir_msg_u64(&m, rec.index);
                    weir_msg_str(&m, ": the key is not a valid JSON string");
                    return weir_msg_fail(&m);
                }
                uint8_t *decoded = (uint8_t *)weir_malloc((uint32_t)(tok_end - p));
                if (!decoded) return weir_fail("route-by-key: out of memory");
                key = weir_bytes_of(decoded, weir_json_unescape(p, tok_end, decoded));
            } else {
                key = weir_null(); /* not a JSON string: matches nothing */
            }
        }
        uint32_t r = 0;
        if (!weir_is_null(key))
            while (r < n_routes && !weir_starts_with(key, routes[r].prefix.ptr, routes[r].prefix.len)) r++;
        if (weir_is_null(key) || r == n_routes) {
            weir_writer_copy(&out, &rec);
        } else {
            rec.topic = routes[r].topic;
            weir_writer_record(&out, &rec);
        }
    }
    if (more < 0) {
        weir_msg m = {0};
        weir_msg_str(&m, "route-by-key: malformed input batch: ");
        weir_msg_str(&m, in.error);
        return weir_msg_fail(&m);
    }
    return weir_writer_finish(&out);
}
