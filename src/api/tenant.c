/* Tenant API (X-API-Key): the key's own tenant. */
#include "switchboard/api.h"

static void on_tenant(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || reply->element[0]->type != REDIS_REPLY_STRING) {
        sb_resp_problem(req, 401, "unknown or revoked API key", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", reply->element[0]->str);
    cJSON_AddStringToObject(o, "name", reply->element[1]->str ? reply->element[1]->str : "");
    cJSON_AddStringToObject(o, "status", reply->element[2]->str ? reply->element[2]->str : "");
    cJSON_AddStringToObject(o, "keyId", req->key_id);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_tenant_whoami(sb_req_t *req)
{
    char key[SB_KEY_MAX];
    sb_key_tenant(key, req->tenant_id, "tenant");
    const char *argv[5] = {"HMGET", key, "id", "name", "status"};
    if (sb_store_cmd(sb_api_store(req), on_tenant, req, 5, argv, NULL) < 0)
        sb_api_unavailable(req);
}
