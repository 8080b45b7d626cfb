/* Response helpers: extra headers, JSON and problem+json bodies, streams (written through
 * server.c's connection output, sb__conn_*). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/http.h"
#include "switchboard/log.h"

void sb_resp_header(sb_req_t *req, const char *name, const char *value)
{
    /* Header values come from our own code; CR/LF would split the response, so refuse them. */
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n: ")) {
        sb_log(SB_LOG_ERROR, "refused a response header with CR/LF", "\"header\":\"%.40s\"", name);
        return;
    }
    sb_buf_puts(&req->resp_headers, name);
    sb_buf_puts(&req->resp_headers, ": ");
    sb_buf_puts(&req->resp_headers, value);
    sb_buf_puts(&req->resp_headers, "\r\n");
}

void sb_resp_send(sb_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    if (req->done) {
        sb_log(SB_LOG_ERROR, "second response for one request", "\"request_id\":\"%s\"", req->request_id);
        return;
    }
    req->status = status;
    req->resp_bytes = len;
    sb__conn_write_head(req, status, content_type, len);
    if (req->method != SB_M_HEAD && len)
        sb__conn_write(req, body, len);
    sb__req_finish(req);
}

void sb_resp_json(sb_req_t *req, int status, const cJSON *json)
{
    char *s = cJSON_PrintUnformatted(json);
    if (!s) {
        sb_resp_problem(req, 500, "could not serialize the response", NULL);
        return;
    }
    sb_resp_send(req, status, "application/json", s, strlen(s));
    cJSON_free(s);
}

void sb_resp_no_content(sb_req_t *req)
{
    sb_resp_send(req, 204, NULL, NULL, 0);
}

void sb_resp_problem(sb_req_t *req, int status, const char *detail, const char *field)
{
    sb_resp_problem_ex(req, status, detail, field, NULL);
}

void sb_resp_problem_ex(sb_req_t *req, int status, const char *detail, const char *field, const char *members)
{
    sb_buf_t b;
    sb_buf_init(&b, 16 * 1024);
    sb_buf_printf(&b, "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d", sb_status_text(status), status);
    if (detail) {
        sb_buf_puts(&b, ",\"detail\":\"");
        sb_buf_json_escape(&b, detail, strlen(detail));
        sb_buf_putc(&b, '"');
    }
    if (field) {
        sb_buf_puts(&b, ",\"field\":\"");
        sb_buf_json_escape(&b, field, strlen(field));
        sb_buf_putc(&b, '"');
    }
    if (members) {
        sb_buf_putc(&b, ',');
        sb_buf_puts(&b, members);
    }
    sb_buf_putc(&b, '}');
    if (status == 503) /* the store reconnects within about a second */
        sb_resp_header(req, "Retry-After", "1");
    sb_resp_send(req, status, "application/problem+json", b.data, b.len);
    sb_buf_free(&b);
}

int sb_resp_stream_begin(sb_req_t *req, int status, const char *content_type, void (*on_abort)(sb_req_t *req))
{
    if (req->done)
        return -1;
    req->status = status;
    if (req->method == SB_M_HEAD) {
        sb__conn_write_head(req, status, content_type, SIZE_MAX);
        sb__req_finish(req);
        return -1;
    }
    req->streaming = true;
    req->on_abort = on_abort;
    sb__conn_write_head(req, status, content_type, SIZE_MAX);
    /* A client already gone shows up as on_abort: when its connection is closing, once it is
     * closed; when it is closed already, at the owner's first write (not here: the owner is
     * not set up yet). */
    if (req->conn)
        sb__conn_stream(req, NULL, 0);
    return 0;
}

int sb_resp_stream_writev(sb_req_t *req, const uv_buf_t *parts, unsigned nparts)
{
    if (!req->streaming || req->done)
        return -EPIPE;
    size_t n = 0;
    for (unsigned i = 0; i < nparts; i++)
        n += parts[i].len;
    if (n == 0)
        return 0;
    char size[24];
    int sl = snprintf(size, sizeof(size), "%zx\r\n", n);
    sb__conn_write(req, size, (size_t)sl);
    for (unsigned i = 0; i < nparts; i++)
        sb__conn_write(req, parts[i].base, parts[i].len);
    req->resp_bytes += n;
    return sb__conn_stream(req, "\r\n", 2);
}

int sb_resp_stream_write(sb_req_t *req, const void *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    return sb_resp_stream_writev(req, &b, 1);
}

void sb_resp_stream_end(sb_req_t *req)
{
    if (req->done)
        return;
    if (req->streaming)
        sb__conn_write(req, "0\r\n\r\n", 5);
    req->streaming = false;
    req->on_abort = NULL;
    sb__req_finish(req);
}

void sb_resp_verr(sb_req_t *req, const sb_verr_t *e)
{
    sb_resp_problem(req, 400, e->detail, e->field[0] ? e->field : NULL);
}

cJSON *sb_json_body(sb_req_t *req, bool allow_empty)
{
    sb_verr_t e;
    cJSON *root = sb_json_body_parse(req, allow_empty, &e);
    if (!root)
        sb_resp_verr(req, &e);
    return root;
}
