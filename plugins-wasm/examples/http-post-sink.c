/*
 * http-post-sink -- a sink that POSTs each batch as one NDJSON request (weir ABI v1).
 *
 * Config:
 *   url  required; `http://host[:port]/path[?query]`. host:port must also be listed in the
 *        connector's `wasm.http.allowed.hosts`, or every request fails (fatal).
 *
 * weir_put sends one `POST url` with header `content-type: application/x-ndjson` whose body
 * is every non-null record value followed by `\n`, in batch order (values are sent as they
 * are, whatever their encoding; null values are skipped). A batch with no records, or only
 * null values, sends nothing and succeeds. Results:
 *   2xx                                   -> 0 (delivered)
 *   5xx, 429, connection refused/reset
 *   (-2) or timeout (-3)                  -> weir.log (warn) + weir.error, 1 (retriable: the
 *                                            host redelivers the batch after a backoff)
 *   any other status, host not allowed
 *   (-1), malformed request/response (-4) -> weir.error naming the status and the url, 2 (fatal)
 * Messages name the url without its user:password@ part. weir_flush has nothing to do: every
 * put is synchronous, so it returns 0.
 */
#define WEIR_PLUGIN_IMPLEMENTATION
#include "weir_plugin.h"

static weir_bytes url;     /* as configured */
static weir_bytes url_msg; /* for messages: without credentials */
static int configured;

enum { PUT_OK = 0, PUT_RETRY = 1, PUT_FATAL = 2 };

static int configure(int keep) {
    int rc = weir_config_alloc("url", &url);
    if (rc < 0) return (int)weir_fail("http-post-sink: out of memory reading the config");
    if (rc == 0) return (int)weir_fail("http-post-sink: the config key `url` is required (http://host:port/path)");
    if (!weir_starts_with(url, "http://", 7) || url.len == 7) {
        weir_msg m = {0};
        weir_msg_str(&m, "http-post-sink: the config key `url` must be an http:// URL, not \"");
        weir_msg_bytes(&m, url.ptr, url.len);
        weir_msg_str(&m, "\"");
        return (int)weir_msg_fail(&m);
    }
    /* drop user:password@ from the authority for messages */
    uint32_t auth_end = 7, at = 0;
    while (auth_end < url.len && url.ptr[auth_end] != '/' && url.ptr[auth_end] != '?' &&
           url.ptr[auth_end] != '#')
        auth_end++;
    for (uint32_t i = 7; i < auth_end; i++)
        if (url.ptr[i] == '@') at = i;
    if (at) {
        weir_buf b = {0};
        weir_buf_str(&b, "http://");
        weir_buf_append(&b, url.ptr + at + 1, url.len - at - 1);
        if (b.failed) return (int)weir_fail("http-post-sink: out of memory reading the config");
        url_msg = weir_bytes_of(b.ptr, b.len);
    } else {
        url_msg = url;
    }
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

/* Reports `m` (weir.error; and a warning in the log when retriable) and returns `code`. */
static int32_t report(weir_msg *m, int32_t code) {
    if (code == PUT_RETRY) {
        weir_msg_str(m, "; will retry");
        weir_msg_log(WEIR_LOG_WARN, m);
    }
    weir_host_error(m->text, m->len);
    return code;
}

WEIR_EXPORT("weir_put") int32_t weir_put(uint32_t ptr, uint32_t len) {
    weir_msg m = {0};
    if (!configured && configure(0) < 0) return PUT_FATAL;
    weir_reader in;
    weir_record rec;
    int more;
    if (weir_reader_init(&in, (const void *)(uintptr_t)ptr, len) < 0) {
        weir_msg_str(&m, "http-post-sink: malformed input batch: ");
        return report(weir_msg_str(&m, in.error), PUT_FATAL);
    }
    if (in.count == 0) return PUT_OK;

    static const char ndjson[] = "application/x-ndjson";
    weir_http_header h = {"content-type", weir_bytes_of(ndjson, sizeof ndjson - 1)};
    weir_buf req = {0};
    weir_buf_reserve(&req, 64 + url.len + len);
    int64_t body = weir_http_begin(&req, "POST", url, &h, 1);
    if (body < 0) return report(weir_msg_str(&m, "http-post-sink: out of memory"), PUT_RETRY);
    uint32_t values = 0;
    while ((more = weir_reader_next(&in, &rec)) > 0) {
        if (weir_is_null(rec.value)) continue;
        weir_buf_append(&req, rec.value.ptr, rec.value.len);
        weir_buf_u8(&req, '\n');
        values++;
    }
    if (more < 0) {
        weir_msg_str(&m, "http-post-sink: malformed input batch: ");
        return report(weir_msg_str(&m, in.error), PUT_FATAL);
    }
    if (req.failed) return report(weir_msg_str(&m, "http-post-sink: out of memory building the request"), PUT_RETRY);
    if (values == 0) return PUT_OK;

    uint8_t resp[200];
    int64_t r = weir_http_send(&req, (uint32_t)body, resp, sizeof resp);
    weir_msg_str(&m, "http-post-sink: POST ");
    weir_msg_bytes(&m, url_msg.ptr, url_msg.len);
    if (r < 0) {
        int32_t code = (r == WEIR_HTTP_CONNECTION || r == WEIR_HTTP_TIMEOUT) ? PUT_RETRY : PUT_FATAL;
        weir_msg_str(&m, r == WEIR_HTTP_NOT_ALLOWED ? " failed: the host is not in wasm.http.allowed.hosts or the URL is not http://"
                       : r == WEIR_HTTP_CONNECTION ? " failed: connection refused or reset"
                       : r == WEIR_HTTP_TIMEOUT    ? " failed: timed out"
                       : r == WEIR_HTTP_MALFORMED  ? " failed: malformed request or response"
                                                   : " failed");
        weir_msg_str(&m, " (");
        weir_msg_i64(&m, r);
        weir_msg_str(&m, ")");
        return report(&m, code);
    }
    int32_t status = WEIR_HTTP_STATUS(r);
    if (status >= 200 && status < 300) return PUT_OK;
    weir_msg_str(&m, " returned HTTP status ");
    weir_msg_i64(&m, status);
    uint32_t shown = WEIR_HTTP_BODY_LEN(r) < sizeof resp ? WEIR_HTTP_BODY_LEN(r) : (uint32_t)sizeof resp;
    if (shown) {
        weir_msg_str(&m, ": ");
        for (uint32_t i = 0; i < shown; i++) /* printable ASCII only */
            if (resp[i] < 0x20 || resp[i] > 0x7e) resp[i] = ' ';
        weir_msg_bytes(&m, resp, shown);
        if (WEIR_HTTP_BODY_LEN(r) > shown) weir_msg_str(&m, "...");
    }
    return report(&m, ((status >= 500 && status < 600) || status == 429) ? PUT_RETRY : PUT_FATAL);
}

WEIR_EXPORT("weir_flush") int32_t weir_flush(void) { return PUT_OK; }
