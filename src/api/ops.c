/* Operations routes (SPEC 12): liveness, readiness (a Redis round trip) and metrics. */
#include "switchboard/api.h"

static const char healthz_body[] = "{\"status\":\"ok\"}";

void sb_ops_healthz(sb_req_t *req)
{
    sb_resp_send(req, 200, "application/json", healthz_body, sizeof(healthz_body) - 1);
}

static void not_ready(sb_req_t *req)
{
    static const char body[] = "{\"status\":\"unavailable\",\"redis\":\"down\"}";
    sb_resp_header(req, "Retry-After", "1");
    sb_resp_send(req, 503, "application/json", body, sizeof(body) - 1);
}

static void on_ping(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    /* Ready means every loop can serve, not only the one that answered this request. */
    if (!reply || reply->type == REDIS_REPLY_ERROR || !sb_metrics_redis_all_up()) {
        not_ready(req);
        return;
    }
    static const char body[] = "{\"status\":\"ready\",\"redis\":\"up\"}";
    sb_resp_send(req, 200, "application/json", body, sizeof(body) - 1);
}

void sb_ops_readyz(sb_req_t *req)
{
    const char *argv[1] = {"PING"};
    if (sb_store_cmd(sb_api_store(req), on_ping, req, 1, argv, NULL) < 0)
        not_ready(req);
}

void sb_ops_metrics(sb_req_t *req)
{
    sb_buf_t b;
    sb_buf_init(&b, 16u << 20);
    sb_metrics_render(&b);
    sb_resp_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
    sb_buf_free(&b);
}
