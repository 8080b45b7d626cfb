/* Request parsing (see parser.h). Header bytes are stored as offsets while the head buffer may
 * still grow, and turned into pointers once the header block is complete. */
#include "switchboard/parser.h"

#include <string.h>
#include <uv.h>

#include "switchboard/text.h"

static llhttp_settings_t settings;
static uv_once_t settings_once = UV_ONCE_INIT;

static int head_add(sb_parser_t *p, const char *at, size_t len)
{
    p->head_bytes += (uint32_t)len;
    if (p->head_bytes > SB_HEAD_MAX || sb_buf_append(&p->req->head, at, len) < 0) {
        p->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *l)
{
    sb_parser_t *p = l->data;
    sb_req_t *req = p->hooks->begin(p);
    p->req = req;
    p->head_bytes = 0;
    p->err_status = 0;
    sb_buf_reset(&req->head);
    sb_buf_reset(&req->body);
    req->url_end = 0;
    req->nheaders = 0;
    req->hdr_state = 0;
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len)
{
    return head_add(l->data, at, len);
}

static int on_url_complete(llhttp_t *l)
{
    sb_parser_t *p = l->data;
    p->req->url_end = (uint32_t)p->req->head.len;
    return 0;
}

/* Starts a header entry at the current end of the head buffer. */
static int header_start(sb_parser_t *p)
{
    sb_req_t *req = p->req;
    if (req->nheaders == SB_MAX_HEADERS) {
        p->err_status = 431;
        return -1;
    }
    req->hdr_off[req->nheaders][0] = (uint32_t)req->head.len;
    req->hdr_state = 1;
    return 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    sb_parser_t *p = l->data;
    if (p->req->hdr_state != 1 && header_start(p) < 0)
        return -1;
    return head_add(p, at, len);
}

static int on_header_field_complete(llhttp_t *l)
{
    sb_parser_t *p = l->data;
    sb_req_t *req = p->req;
    if (req->hdr_state != 1 && header_start(p) < 0)
        return -1;
    req->hdr_off[req->nheaders][1] = (uint32_t)req->head.len - req->hdr_off[req->nheaders][0];
    /* ": " and CRLF count toward the limit too: once per field, however the bytes arrived */
    p->head_bytes += 4;
    if (p->head_bytes > SB_HEAD_MAX) {
        p->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    sb_parser_t *p = l->data;
    sb_req_t *req = p->req;
    if (req->hdr_state != 2) {
        req->hdr_off[req->nheaders][2] = (uint32_t)req->head.len;
        req->hdr_state = 2;
    }
    return head_add(p, at, len);
}

static int on_header_value_complete(llhttp_t *l)
{
    sb_req_t *req = ((sb_parser_t *)l->data)->req;
    if (req->hdr_state != 2) /* empty value */
        req->hdr_off[req->nheaders][2] = (uint32_t)req->head.len;
    req->hdr_off[req->nheaders][3] = (uint32_t)req->head.len - req->hdr_off[req->nheaders][2];
    req->nheaders++;
    req->hdr_state = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *l)
{
    sb_parser_t *p = l->data;
    sb_req_t *req = p->req;
    const char *h = req->head.data ? req->head.data : "";
    size_t ulen = req->url_end;
    const char *q = memchr(h, '?', ulen);
    req->path.p = h;
    req->path.len = q ? (size_t)(q - h) : ulen;
    req->query.p = q ? q + 1 : h + ulen;
    req->query.len = q ? ulen - req->path.len - 1 : 0;
    for (unsigned i = 0; i < req->nheaders; i++) {
        req->headers[i].name.p = h + req->hdr_off[i][0];
        req->headers[i].name.len = req->hdr_off[i][1];
        req->headers[i].value.p = h + req->hdr_off[i][2];
        req->headers[i].value.len = req->hdr_off[i][3];
    }
    const char *mname = llhttp_method_name((llhttp_method_t)l->method);
    req->method_name = sb_str(mname);
    req->method = sb_method_bit(mname, strlen(mname));
    req->keep_alive = llhttp_should_keep_alive(l) != 0;
    bool too_big = (l->flags & F_CONTENT_LENGTH) && l->content_length > p->max_body;
    req->expect_continue = false;
    if (!too_big && ((l->flags & F_CHUNKED) || ((l->flags & F_CONTENT_LENGTH) && l->content_length > 0))) {
        const sb_header_t *expect = sb_req_header(req, "expect");
        req->expect_continue =
            expect && l->http_minor >= 1 && sb_ascii_ieq(expect->value.p, expect->value.len, "100-continue");
    }
    p->hooks->headers(p, req); /* even for a 413: the answer carries the request id */
    if (too_big) {
        p->err_status = 413; /* refuse before reading any of it */
        return -1;
    }
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    sb_parser_t *p = l->data;
    if (sb_buf_append(&p->req->body, at, len) < 0) {
        p->err_status = 413;
        return -1;
    }
    if (p->hooks->body)
        p->hooks->body(p);
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    SB_UNUSED(l);
    return HPE_PAUSED; /* one message at a time */
}

/* Once per process, as the client's response settings: loop threads accept concurrently. */
static void init_settings(void)
{
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_url_complete = on_url_complete;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
}

void sb_parser_init(sb_parser_t *p, const sb_parser_hooks_t *hooks, void *data, uint64_t max_body)
{
    uv_once(&settings_once, init_settings);
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
    p->llhttp.data = p;
    p->hooks = hooks;
    p->data = data;
    p->max_body = max_body;
}

int sb_parser_execute(sb_parser_t *p, const char *data, size_t len, size_t *used)
{
    llhttp_errno_t e = llhttp_execute(&p->llhttp, data, len);
    if (e == HPE_OK) {
        *used = len;
        return SB_PARSE_MORE;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        *used = (size_t)(llhttp_get_error_pos(&p->llhttp) - data);
        if (e == HPE_PAUSED) {
            llhttp_resume(&p->llhttp);
            return SB_PARSE_MESSAGE;
        }
        return SB_PARSE_UPGRADE;
    }
    const char *pos = llhttp_get_error_pos(&p->llhttp);
    *used = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : len;
    if (!p->err_status)
        p->err_status = 400;
    return SB_PARSE_ERROR;
}

const char *sb_parser_error_reason(const sb_parser_t *p)
{
    const char *r = llhttp_get_error_reason(&p->llhttp);
    return r ? r : "parse error";
}

bool sb_parser_http10(const sb_parser_t *p)
{
    return p->llhttp.http_major == 1 && p->llhttp.http_minor == 0;
}
