/* What every route family answers when the store fails it: 503 with nothing half-written (the
 * scripts are atomic), and the server reconnects by itself (SPEC 2). */
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"

void sb_api_unavailable(sb_req_t *req)
{
    sb_resp_problem(req, 503, "storage is unavailable, retry shortly", NULL);
}

bool sb_api_reply_failed(sb_req_t *req, const redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return false;
    sb_api_unavailable(req);
    return true;
}

typedef struct {
    sb_hash_dto_fn dto;
    const char *missing;
} get_hash_t;

static void on_get_hash(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    const get_hash_t *g = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        sb_resp_problem(req, 404, g->missing, NULL);
        return;
    }
    cJSON *o = g->dto(reply);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

static void get_hash_ctx(sb_req_t *req, sb_hash_dto_fn dto, const char *missing)
{
    get_hash_t *g = sb_req_alloc(req, sizeof(*g));
    g->dto = dto;
    g->missing = missing;
    req->ctx = g;
}

void sb_api_get_hash(sb_req_t *req, const char *key, sb_hash_dto_fn dto, const char *missing)
{
    get_hash_ctx(req, dto, missing);
    const char *argv[] = {"HGETALL", key};
    if (sb_store_cmd(sb_api_store(req), on_get_hash, req, 2, argv, NULL) < 0)
        sb_api_unavailable(req);
}

void sb_api_eval_hash(sb_req_t *req, const sb_script_t *script, int argc, const char **argv, sb_hash_dto_fn dto,
                      const char *missing)
{
    get_hash_ctx(req, dto, missing);
    if (sb_store_eval(sb_api_store(req), script, 0, argc, argv, NULL, on_get_hash, req) < 0)
        sb_api_unavailable(req);
}

static void on_deleted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        sb_resp_no_content(req);
    else
        sb_resp_problem(req, 404, req->ctx, NULL);
}

void sb_api_eval_delete(sb_req_t *req, const sb_script_t *script, int nkeys, int argc, const char **argv,
                        const char *missing)
{
    req->ctx = (void *)missing;
    if (sb_store_eval(sb_api_store(req), script, nkeys, argc, argv, NULL, on_deleted, req) < 0)
        sb_api_unavailable(req);
}

void sb_api_public_base(const sb_req_t *req, char *out, size_t cap)
{
    const sb_config_t *cfg = req->loop->srv->cfg;
    if (cfg->public_url) {
        snprintf(out, cap, "%s", cfg->public_url);
        return;
    }
    const sb_header_t *h = sb_req_header(req, "host");
    if (h && h->value.len > 0 && h->value.len < 256) {
        snprintf(out, cap, "http://%.*s", (int)h->value.len, h->value.p);
        if (sb_origin_valid(out))
            return;
    }
    bool v6 = strchr(cfg->listen_host, ':') != NULL;
    snprintf(out, cap, "http://%s%s%s:%u", v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "", cfg->listen_port);
}

void sb_api_page_answer(sb_req_t *req, const redisReply *reply, unsigned page, unsigned size, sb_hash_dto_fn dto)
{
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 1; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements)
            cJSON_AddItemToArray(items, dto(reply->element[i]));
    cJSON *o = sb_page_envelope(items, page, size, (unsigned long)reply->element[0]->integer);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}
