/* The native conversation API (SPEC 6; tenant X-API-Key): list and read conversations and
 * their messages, reply as an agent or operator, close, run a command whose answer becomes an
 * internal note. */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/channels.h"
#include "switchboard/conv.h"
#include "switchboard/delivery.h"
#include "switchboard/text.h"

typedef struct conv_ctx {
    unsigned page, size;
    char cid[37];
    /* POST .../commands */
    const char *command, *args, *data;
    const char *result, *url;
    bool is_error;
} conv_ctx_t;

static conv_ctx_t *conv_begin(sb_req_t *req, bool with_id)
{
    conv_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    req->ctx = c;
    if (with_id) {
        const char *id = sb_req_param(req, "conversationId");
        if (!id || !sb_uuid_valid(id, strlen(id))) {
            sb_resp_problem(req, 404, "no such conversation", NULL);
            return NULL;
        }
        snprintf(c->cid, sizeof(c->cid), "%s", id);
    }
    return c;
}

/* ---------- GET /api/conversations ---------- */

static void on_list(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    conv_ctx_t *c = req->ctx;
    sb_api_page_answer(req, reply, c->page, c->size, sb_conv_json);
}

void sb_conv_list(sb_req_t *req)
{
    conv_ctx_t *c = conv_begin(req, false);
    if (sb_page_params(req, &c->page, &c->size) < 0)
        return;
    const char *status = NULL;
    int rs = sb_req_query_get(req, "status", &status);
    if (rs == -EINVAL || (rs == 0 && strcmp(status, "open") != 0 && strcmp(status, "closed") != 0)) {
        sb_resp_problem(req, 400, "'status' must be \"open\" or \"closed\"", "status");
        return;
    }
    char tp[SB_KEY_MAX], off[24], n[8];
    sb_key_tenant(tp, req->tenant_id, "");
    snprintf(off, sizeof(off), "%llu", (unsigned long long)(c->page - 1) * c->size);
    snprintf(n, sizeof(n), "%u", c->size);
    const char *argv[] = {tp, rs == 0 ? status : "", off, n};
    if (sb_store_eval(sb_api_store(req), &sb_script_conv_list, 0, 4, argv, NULL, on_list, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- GET /api/conversations/{id} ---------- */

void sb_conv_get(sb_req_t *req)
{
    conv_ctx_t *c = conv_begin(req, true);
    if (!c)
        return;
    char k[SB_KEY_MAX];
    sb_key_tenant_item(k, req->tenant_id, "conv", c->cid);
    sb_api_get_hash(req, k, sb_conv_json, "no such conversation");
}

/* ---------- GET /api/conversations/{id}/messages ---------- */

static void on_messages(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    conv_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        sb_api_unavailable(req);
        return;
    }
    if (reply->element[0]->integer == 0) {
        sb_resp_problem(req, 404, "no such conversation", NULL);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 2; i < reply->elements; i++) {
        cJSON *m = cJSON_ParseWithLength(reply->element[i]->str, reply->element[i]->len);
        if (m)
            cJSON_AddItemToArray(items, m);
    }
    cJSON *env = sb_page_envelope(items, c->page, c->size, (unsigned long)reply->element[1]->integer);
    sb_resp_json(req, 200, env);
    cJSON_Delete(env);
}

void sb_conv_messages(sb_req_t *req)
{
    conv_ctx_t *c = conv_begin(req, true);
    if (!c || sb_page_params(req, &c->page, &c->size) < 0)
        return;
    char k[SB_KEY_MAX], off[24], n[8];
    sb_key_tenant_item(k, req->tenant_id, "conv", c->cid);
    snprintf(off, sizeof(off), "%llu", (unsigned long long)(c->page - 1) * c->size);
    snprintf(n, sizeof(n), "%u", c->size);
    const char *argv[] = {k, off, n};
    if (sb_store_eval(sb_api_store(req), &sb_script_conv_messages, 0, 3, argv, NULL, on_messages, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- POST /api/conversations/{id}/messages ---------- */

static void on_replied(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->element[0]->str : NULL;
    if (s && strcmp(s, "OK") == 0 && reply->elements == 2 && reply->element[1]->str)
        sb_resp_send(req, 201, "application/json", reply->element[1]->str, reply->element[1]->len);
    else if (s && strcmp(s, "UNFIT") == 0 && reply->elements == 3 && reply->element[1]->str && reply->element[2]->str)
        sb_resp_problem(req, 400, reply->element[2]->str, reply->element[1]->str);
    else if (s && strcmp(s, "NOCONV") == 0)
        sb_resp_problem(req, 404, "no such conversation", NULL);
    else
        sb_api_unavailable(req);
}

void sb_conv_message_post(sb_req_t *req)
{
    conv_ctx_t *c = conv_begin(req, true);
    if (!c)
        return;
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    sb_content_t content;
    const cJSON *type = NULL, *id = NULL, *name = NULL;
    const cJSON *sender = cJSON_GetObjectItemCaseSensitive(body, "sender");
    static const char *const sender_fields[] = {"type", "id", "name", NULL};
    static const char *const sender_fields_top[] = {"sender", NULL};
    int rc = sb_content_parse(body, SB_CONTENT_RICH, sender_fields_top, &content, &e);
    if (rc == 0 && sender && !cJSON_IsNull(sender)) {
        if (!cJSON_IsObject(sender))
            rc = sb_verr_set(&e, "sender", "'sender' must be an object");
        else if (sb_v_only(sender, sender_fields, "sender", &e) < 0 ||
                 sb_v_string(sender, "type", "sender", false, 1, 16, &type, &e) < 0 ||
                 sb_v_string(sender, "id", "sender", false, 1, 128, &id, &e) < 0 ||
                 sb_v_string(sender, "name", "sender", false, 1, 200, &name, &e) < 0)
            rc = -EINVAL;
        else if (type && strcmp(type->valuestring, "operator") != 0 && strcmp(type->valuestring, "agent") != 0)
            rc = sb_verr_set(&e, "sender.type", "'sender.type' must be \"operator\" or \"agent\"");
    }
    if (rc < 0) {
        sb_content_free(&content); /* zeroed when the content itself failed */
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    cJSON *sj = cJSON_CreateObject();
    cJSON_AddStringToObject(sj, "type", type ? type->valuestring : "operator");
    if (id)
        cJSON_AddStringToObject(sj, "id", id->valuestring);
    if (name)
        cJSON_AddStringToObject(sj, "name", name->valuestring);
    char *sender_json = cJSON_PrintUnformatted(sj);
    cJSON_Delete(sj);
    char *unfit = sb_content_unfit(&content);
    rc = sb_conv_reply(sb_api_store(req), req->loop->srv->cfg, req->tenant_id, c->cid, sender_json, &content, unfit,
                       NULL, on_replied, req);
    sb_free(unfit);
    cJSON_free(sender_json);
    sb_content_free(&content);
    cJSON_Delete(body);
    if (rc < 0)
        sb_api_unavailable(req);
}

/* ---------- POST /api/conversations/{id}/close ---------- */

static void on_closed(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->element[0]->str : NULL;
    if (s && strcmp(s, "OK") == 0 && reply->elements == 2) {
        cJSON *o = sb_conv_json(reply->element[1]);
        sb_resp_json(req, 200, o);
        cJSON_Delete(o);
    } else if (s && strcmp(s, "NOCONV") == 0) {
        sb_resp_problem(req, 404, "no such conversation", NULL);
    } else {
        sb_api_unavailable(req);
    }
}

void sb_conv_close(sb_req_t *req)
{
    conv_ctx_t *c = conv_begin(req, true);
    if (!c)
        return;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, req->loop->srv->cfg);
    const char *argv[] = {cx.json, req->tenant_id, c->cid};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_conv_close, 0, 3, argv, NULL, on_closed, req);
    sb_event_cx_free(&cx);
    if (rc < 0)
        sb_api_unavailable(req);
}

/* ---------- POST /api/conversations/{id}/commands ---------- */

static void on_noted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    conv_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->element[0]->str : NULL;
    cJSON *note = s && strcmp(s, "OK") == 0 && reply->elements == 2 && reply->element[1]->str
                      ? cJSON_ParseWithLength(reply->element[1]->str, reply->element[1]->len)
                      : NULL;
    if (!note) {
        if (s && strcmp(s, "NOCONV") == 0)
            sb_resp_problem(req, 404, "no such conversation", NULL); /* deleted meanwhile */
        else
            sb_api_unavailable(req);
        return;
    }
    cJSON *o = sb_command_answer(c->command, c->result, c->is_error, c->url);
    cJSON_AddItemToObject(o, "note", note);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

static void on_conv_command(void *data, int status, const char *result, bool is_error, const char *url)
{
    sb_req_t *req = data;
    conv_ctx_t *c = req->ctx;
    if (status != 200) {
        sb_resp_problem(req, status, result, NULL);
        return;
    }
    c->result = sb_req_strndup(req, result, strlen(result));
    c->url = sb_req_strndup(req, url ? url : "", url ? strlen(url) : 0);
    c->is_error = is_error;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, req->loop->srv->cfg);
    sb_msg_t m;
    sb_content_t note;
    sb_content_text(&note, result[0] ? result : "(empty answer)");
    sb_msg_init(&m, &cx, "internal", &note, NULL);
    cJSON *sj = cJSON_CreateObject();
    cJSON_AddStringToObject(sj, "type", "command");
    cJSON_AddStringToObject(sj, "id", c->command);
    char *sender = cJSON_PrintUnformatted(sj);
    cJSON_Delete(sj);
    const char *argv[] = {cx.json, req->tenant_id, c->cid, m.id, sender, m.mtail};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_conv_note, 0, 6, argv, NULL, on_noted, req);
    cJSON_free(sender);
    sb_msg_free(&m);
    sb_event_cx_free(&cx);
    if (rc < 0)
        sb_api_unavailable(req);
}

static void on_command_conv(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    conv_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || !reply->element[0]->str) {
        sb_resp_problem(req, 404, "no such conversation", NULL);
        return;
    }
    /* the subscriber learns which conversation asks: data.conversation_id, channel, chat_id */
    cJSON *d = c->data ? cJSON_Parse(c->data) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(d, "conversation_id");
    cJSON_DeleteItemFromObjectCaseSensitive(d, "channel");
    cJSON_DeleteItemFromObjectCaseSensitive(d, "chat_id");
    cJSON_AddStringToObject(d, "conversation_id", c->cid);
    cJSON_AddStringToObject(d, "channel", reply->element[0]->str);
    cJSON_AddStringToObject(d, "chat_id", reply->element[1]->str ? reply->element[1]->str : "");
    int rc = sb_command_run(sb_api_store(req), sb_services(req)->client, req->loop->srv->cfg,
                            req->tenant_id, c->command, c->args, d, on_conv_command, req);
    cJSON_Delete(d);
    if (rc < 0)
        sb_api_unavailable(req);
}

void sb_conv_command(sb_req_t *req)
{
    conv_ctx_t *c = conv_begin(req, true);
    if (!c)
        return;
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *cmd, *args, *data;
    if (sb_command_body(body, &cmd, &args, &data, &e) < 0) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    c->command = sb_req_strndup(req, cmd->valuestring, strlen(cmd->valuestring));
    c->args = args ? sb_req_strndup(req, args->valuestring, strlen(args->valuestring)) : "";
    if (data) {
        char *j = cJSON_PrintUnformatted(data);
        c->data = sb_req_strndup(req, j, strlen(j));
        cJSON_free(j);
    }
    cJSON_Delete(body);
    char k_conv[SB_KEY_MAX];
    sb_key_tenant_item(k_conv, req->tenant_id, "conv", c->cid);
    const char *argv[] = {"HMGET", k_conv, "channel", "chatId"};
    if (sb_store_cmd(sb_api_store(req), on_command_conv, req, 4, argv, NULL) < 0)
        sb_api_unavailable(req);
}
