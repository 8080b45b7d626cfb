/* The embeddable widget (`/widget.js`) and its demo page (`/demo`), compiled into the binary
 * from web/ (scripts/embed.py), so a deployment is still one file. Cached by browsers for five
 * minutes and revalidated by ETag. The script is also compiled in gzip-compressed and sent so to
 * clients that accept gzip (a third of the bytes, on every page that embeds it). */
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

extern const unsigned char sb_asset_widget_js_data[], sb_asset_widget_js_data_gz[], sb_asset_demo_data[];
extern const size_t sb_asset_widget_js_data_len, sb_asset_widget_js_data_gz_len, sb_asset_demo_data_len;

#define ETAG_LEN 24 /* "<16 hex>" and its NUL */

typedef struct asset {
    const unsigned char *data, *gz; /* gz: the same compressed, or NULL */
    const size_t *len, *gz_len;
    const char *type;
    char etag[ETAG_LEN], gz_etag[ETAG_LEN]; /* computed once, of each representation */
} asset_t;

static asset_t widget_js = {sb_asset_widget_js_data,
                            sb_asset_widget_js_data_gz,
                            &sb_asset_widget_js_data_len,
                            &sb_asset_widget_js_data_gz_len,
                            "application/javascript; charset=utf-8",
                            "",
                            ""};
static asset_t demo = {sb_asset_demo_data, NULL, &sb_asset_demo_data_len, NULL, "text/html; charset=utf-8", "", ""};
static uv_once_t etag_once = UV_ONCE_INIT;

static void etag_hex(const unsigned char *data, size_t n, char out[ETAG_LEN])
{
    char hex[65];
    sb_sha256_hex(data, n, hex);
    snprintf(out, ETAG_LEN, "\"%.16s\"", hex);
}

static void etag_of(asset_t *a)
{
    etag_hex(a->data, *a->len, a->etag);
    if (a->gz)
        etag_hex(a->gz, *a->gz_len, a->gz_etag);
}

/* The demo page's Content-Security-Policy allows its own inline <script> blocks by hash and
 * nothing else inline. */
static char demo_csp[1024];

static void make_csp(void)
{
    size_t n = (size_t)snprintf(demo_csp, sizeof(demo_csp),
                                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                "connect-src 'self'; script-src 'self'");
    const char *p = (const char *)demo.data, *end = p + *demo.len;
    static const char open[] = "<script>", close[] = "</script>";
    while ((p = memmem(p, (size_t)(end - p), open, sizeof(open) - 1)) != NULL) {
        const char *body = p + sizeof(open) - 1;
        const char *stop = memmem(body, (size_t)(end - body), close, sizeof(close) - 1);
        if (!stop)
            break;
        unsigned char d[32];
        char b64[48];
        sb_sha256(body, (size_t)(stop - body), d);
        sb_base64_encode(d, sizeof(d), b64);
        if (n + strlen(b64) + 12 < sizeof(demo_csp))
            n += (size_t)snprintf(demo_csp + n, sizeof(demo_csp) - n, " 'sha256-%s'", b64);
        p = stop;
    }
}

static void make_etags(void)
{
    etag_of(&widget_js);
    etag_of(&demo);
    make_csp();
}

static void serve(sb_req_t *req, asset_t *a)
{
    uv_once(&etag_once, make_etags);
    const sb_header_t *ae = a->gz ? sb_req_header(req, "accept-encoding") : NULL;
    bool gz = ae && sb_accepts_coding(ae->value.p, ae->value.len, "gzip");
    const char *etag = gz ? a->gz_etag : a->etag;
    sb_resp_header(req, "ETag", etag);
    sb_resp_header(req, "Cache-Control", "public, max-age=300");
    sb_resp_header(req, "X-Content-Type-Options", "nosniff");
    if (a->gz) {
        sb_resp_header(req, "Vary", "Accept-Encoding");
        if (gz)
            sb_resp_header(req, "Content-Encoding", "gzip");
    }
    const sb_header_t *inm = sb_req_header(req, "if-none-match");
    if (inm && inm->value.len == strlen(etag) && memcmp(inm->value.p, etag, inm->value.len) == 0) {
        sb_resp_send(req, 304, NULL, NULL, 0);
        return;
    }
    sb_resp_send(req, 200, a->type, (const char *)(gz ? a->gz : a->data), gz ? *a->gz_len : *a->len);
}

void sb_asset_widget_js(sb_req_t *req)
{
    /* any page may load the script; what it can do is governed by the widget's whitelist */
    sb_resp_header(req, "Access-Control-Allow-Origin", "*");
    serve(req, &widget_js);
}

void sb_asset_demo(sb_req_t *req)
{
    uv_once(&etag_once, make_etags);
    sb_resp_header(req, "Content-Security-Policy", demo_csp);
    serve(req, &demo);
}
