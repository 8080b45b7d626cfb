/* The front door of a request the server has read (http.h, sb_http_front): the route table,
 * 404 / 405 / OPTIONS, and the problem answer of a request that fails before any handler
 * (malformed, too large, too slow, a bad Host). server.c reaches these only through the
 * sb_front_t it is given, so the connection code calls nothing that writes responses. */
#include "switchboard/http.h"

#include <errno.h>

static void front_dispatch(sb_req_t *req)
{
    sb_server_t *srv = req->loop->srv;
    int rc = sb_router_match(srv->router, req->method, req->path.p, req->path.len, &req->match);
    if (rc == -ENOENT) {
        sb_resp_problem(req, 404, "no route for this path", NULL);
        return;
    }
    if (rc == -EPERM) {
        char allow[128];
        sb_allow_header(req->match.allowed | SB_M_OPTIONS, allow, sizeof(allow));
        sb_resp_header(req, "Allow", allow);
        if (req->method == SB_M_OPTIONS) {
            sb_resp_no_content(req);
            return;
        }
        sb_resp_problem(req, 405, "method not allowed for this path", NULL);
        return;
    }
    srv->hooks.on_request(req);
}

static void front_refuse(sb_req_t *req, int status, const char *detail)
{
    sb_resp_problem(req, status, detail, NULL);
}

const sb_front_t sb_http_front = {front_dispatch, front_refuse};
