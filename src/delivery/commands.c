/* /commands (seed 001): the command goes to every URL subscribed to it, signed, each with a
 * 3 s limit; the first 2xx answer is the result (plain text, or the JSON `message` / `error`
 * node), cut at 4096 characters. Not queued and not retried: a person is waiting. Every
 * attempt is still logged on its endpoint. */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/clock.h"
#include "switchboard/crypto.h"
#include "switchboard/delivery.h"
#include "switchboard/json.h"
#include "switchboard/text.h"

typedef struct target {
    char *url;
    char ep[17];
    bool olay;
} target_t;

typedef struct cmd {
    sb_store_t *st;
    sb_client_t *cl;
    const sb_config_t *cfg;
    char tenant[37];
    char *command, *args, *data_json;
    sb_command_cb cb;
    void *cbdata;
    sb_webhook_secret_t secret;
    char api_key[96];
    target_t *targets;
    int ntargets, outstanding;
    bool answered, timed_out;
    char msg_base[33];
} cmd_t;

typedef struct cmd_call {
    cmd_t *c;
    int i;
    char id[64];
} cmd_call_t;

static void cmd_free(cmd_t *c)
{
    for (int i = 0; i < c->ntargets; i++)
        sb_free(c->targets[i].url);
    sb_free(c->targets);
    sb_free(c->command);
    sb_free(c->args);
    sb_free(c->data_json);
    sb_free(c);
}

static void answer(cmd_t *c, int status, const char *result, bool is_error, const char *url)
{
    if (c->answered)
        return;
    c->answered = true;
    c->cb(c->cbdata, status, result, is_error, url);
}

static void call_done(cmd_t *c)
{
    if (--c->outstanding > 0)
        return;
    answer(c, c->timed_out ? 504 : 502, c->timed_out ? "no answer within 3 s" : "no subscriber answered with 2xx", true,
           NULL);
    cmd_free(c);
}

/* The result text of a 2xx answer. */
static void parse_result(const char *body, size_t len, char **out, bool *is_error)
{
    *is_error = false;
    cJSON *j = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    char err[SB_JSON_ERR_MAX];
    if (i < len && body[i] == '{')
        j = sb_json_parse(body, len, err); /* not valid: the text as it came, cleaned as plain text */
    const char *text = body;
    size_t tlen = len;
    if (cJSON_IsObject(j)) {
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error"));
        text = m ? m : e ? e : "";
        *is_error = !m && e;
        tlen = strlen(text);
    }
    *out = sb_malloc(tlen + 1);
    sb_utf8_excerpt(text, tlen, SB_COMMAND_MAX_CHARS, *out);
    cJSON_Delete(j);
}

static void on_cmd_response(void *data, const sb_client_resp_t *r)
{
    cmd_call_t *call = data;
    cmd_t *c = call->c;
    target_t *t = &c->targets[call->i];
    bool ok = r->error == SB_CLIENT_OK && r->status >= 200 && r->status < 300;
    if (r->error == SB_CLIENT_ERR_TIMEOUT)
        c->timed_out = true;
    if (r->error != SB_CLIENT_ERR_SHUTDOWN) {
        /* log the attempt on the endpoint */
        char at[32], now_s[24], st_s[16];
        int64_t now = sb_now_ms();
        sb_time_rfc3339(now, at);
        snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
        snprintf(st_s, sizeof(st_s), "%d", r->status);
        char *resp = sb_malloc(r->body_len + 1);
        sb_utf8_excerpt(r->body, r->body_len, SB_COMMAND_MAX_CHARS, resp);
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "at", at);
        cJSON_AddStringToObject(l, "deliveryId", call->id);
        cJSON_AddStringToObject(l, "event", c->command);
        cJSON_AddNumberToObject(l, "attempt", 1);
        cJSON_AddNumberToObject(l, "status", r->status);
        cJSON_AddNumberToObject(l, "latencyMs", (double)(r->latency_us / 1000));
        cJSON_AddBoolToObject(l, "ok", ok);
        if (r->error != SB_CLIENT_OK)
            cJSON_AddStringToObject(l, "error", r->error_text);
        else if (!ok)
            cJSON_AddStringToObject(l, "error", "non-2xx answer");
        else
            cJSON_AddNullToObject(l, "error");
        cJSON_AddStringToObject(l, "response", resp);
        char *lj = cJSON_PrintUnformatted(l);
        cJSON_Delete(l);
        sb_free(resp);
        char k_ep[SB_KEY_MAX], k_log[SB_KEY_MAX], log_id[48];
        sb_key_tenant_item(k_ep, c->tenant, "ep", t->ep);
        snprintf(log_id, sizeof(log_id), "%s:attempts", t->ep);
        sb_key_tenant_item(k_log, c->tenant, "ep", log_id);
        const char *argv[] = {k_ep, k_log, lj, now_s, st_s, t->url, ok ? "1" : "0"};
        sb_store_eval(c->st, &sb_script_record_attempt, 2, 7, argv, NULL, NULL, NULL);
        cJSON_free(lj);
    }
    if (ok && !c->answered) {
        char *result;
        bool is_error;
        parse_result(r->body, r->body_len, &result, &is_error);
        answer(c, 200, result, is_error, t->url);
        sb_free(result);
    }
    sb_free(call);
    call_done(c);
}

static void send_all(cmd_t *c)
{
    /* Envelope as seed 001 shows for /mark: data.command_data carries the arguments. */
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, c->cfg);
    cJSON *data = c->data_json ? cJSON_Parse(c->data_json) : NULL;
    if (!cJSON_IsObject(data)) {
        cJSON_Delete(data);
        data = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(data, "command_data");
    cJSON_AddStringToObject(data, "command_data", c->args ? c->args : "");
    c->outstanding = c->ntargets + 1; /* +1 until every call has started */
    for (int i = 0; i < c->ntargets; i++) {
        target_t *t = &c->targets[i];
        cJSON *env = cJSON_CreateObject();
        if (t->olay) {
            cJSON_AddStringToObject(env, "olay", c->command);
            cJSON_AddStringToObject(env, "zaman", cx.rfc);
            cJSON_AddItemToObject(env, "veri", cJSON_Duplicate(data, 1));
        } else {
            cJSON_AddStringToObject(env, "event_type", c->command);
            cJSON_AddStringToObject(env, "timestamp", cx.ts);
            cJSON_AddStringToObject(env, "instance_id", c->cfg->instance_id ? c->cfg->instance_id : "");
            cJSON_AddItemToObject(env, "data", cJSON_Duplicate(data, 1));
            cJSON_AddStringToObject(env, "api_key", c->api_key);
        }
        char *body = cJSON_PrintUnformatted(env);
        cJSON_Delete(env);
        cmd_call_t *call = sb_calloc(1, sizeof(*call));
        call->c = c;
        call->i = i;
        snprintf(call->id, sizeof(call->id), "msg_%s_%s", c->msg_base, t->ep);
        sb_buf_t h;
        sb_buf_init(&h, 4096);
        sb_buf_puts(&h, "Content-Type: application/json\r\n");
        sb_sign_headers(&c->secret, call->id, (long)(cx.now / 1000), body, strlen(body), &h);
        sb_client_req_t req = {t->url, "POST", h.data, body, strlen(body), SB_COMMAND_TIMEOUT_MS};
        int rc = sb_client_send(c->cl, &req, on_cmd_response, call);
        sb_buf_free(&h);
        cJSON_free(body);
        if (rc < 0) {
            sb_free(call);
            c->outstanding--;
        }
    }
    cJSON_Delete(data);
    sb_event_cx_free(&cx);
    call_done(c);
}

static void on_subs(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    cmd_t *c = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        answer(c, 503, "storage is unavailable", true, NULL);
        cmd_free(c);
        return;
    }
    cJSON *subs = reply->type == REDIS_REPLY_STRING ? cJSON_ParseWithLength(reply->str, reply->len) : NULL;
    int n = cJSON_GetArraySize(subs);
    c->targets = sb_calloc((size_t)(n ? n : 1), sizeof(target_t));
    const cJSON *s;
    cJSON_ArrayForEach(s, subs)
    {
        const cJSON *ev;
        bool match = false;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(s, "events"))
        {
            if (cJSON_IsString(ev) && strcmp(ev->valuestring, c->command) == 0)
                match = true;
        }
        const char *ep = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "ep"));
        if (!match || !ep)
            continue;
        target_t *t = &c->targets[c->ntargets++];
        t->url = sb_strdup(s->string);
        snprintf(t->ep, sizeof(t->ep), "%s", ep);
        const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "format"));
        t->olay = fmt && strcmp(fmt, "olay") == 0;
    }
    cJSON_Delete(subs);
    if (c->ntargets == 0) {
        answer(c, 404, "no URL is subscribed to this command", true, NULL);
        cmd_free(c);
        return;
    }
    send_all(c);
}

static void on_secret(sb_store_t *st, redisReply *reply, void *data)
{
    cmd_t *c = data;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        answer(c, 503, "storage is unavailable", true, NULL);
        cmd_free(c);
        return;
    }
    snprintf(c->secret.current, sizeof(c->secret.current), "%s", reply->element[0]->str ? reply->element[0]->str : "");
    snprintf(c->api_key, sizeof(c->api_key), "%s", reply->element[1]->str ? reply->element[1]->str : "");
    snprintf(c->secret.previous, sizeof(c->secret.previous), "%s",
             reply->element[2]->str ? reply->element[2]->str : "");
    char k_subs[SB_KEY_MAX];
    sb_key_tenant(k_subs, c->tenant, "subs");
    const char *argv[] = {"GET", k_subs};
    if (sb_store_cmd(st, on_subs, c, 2, argv, NULL) < 0) {
        answer(c, 503, "storage is unavailable", true, NULL);
        cmd_free(c);
    }
}

/* A webhook secret and api_key for a tenant that has none yet. */
void sb_webhook_api_key_new(char out[32])
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[20];
    sb_random_bytes(r, sizeof(r));
    for (int i = 0; i < 20; i++)
        out[i] = alnum[r[i] % 62];
    out[20] = '\0';
}

int sb_command_run(sb_store_t *st, sb_client_t *cl, const sb_config_t *cfg, const char *tenant_id, const char *command,
                   const char *args, const cJSON *data, sb_command_cb cb, void *cbdata)
{
    cmd_t *c = sb_calloc(1, sizeof(*c));
    c->st = st;
    c->cl = cl;
    c->cfg = cfg;
    snprintf(c->tenant, sizeof(c->tenant), "%s", tenant_id);
    c->command = sb_strdup(command);
    c->args = args ? sb_strdup(args) : NULL;
    c->data_json = data ? cJSON_PrintUnformatted(data) : NULL;
    if (c->data_json) { /* keep our allocator for everything cmd_free releases */
        char *copy = sb_strdup(c->data_json);
        cJSON_free(c->data_json);
        c->data_json = copy;
    }
    c->cb = cb;
    c->cbdata = cbdata;
    unsigned char raw[16];
    sb_random_bytes(raw, sizeof(raw));
    sb_hex_encode(raw, sizeof(raw), c->msg_base);
    char k_secret[SB_KEY_MAX], secret[64], key[32], now_s[24];
    sb_key_tenant(k_secret, tenant_id, "whsecret");
    sb_webhook_secret_new(secret);
    sb_webhook_api_key_new(key);
    snprintf(now_s, sizeof(now_s), "%lld", (long long)sb_now_ms());
    const char *argv[] = {k_secret, secret, key, now_s};
    int rc = sb_store_eval(st, &sb_script_secret_get, 1, 4, argv, NULL, on_secret, c);
    if (rc < 0)
        cmd_free(c);
    return rc;
}
