/* A platform send (engine.h; docs/channels.md "Replies out"): an outbound message of a platform
 * conversation, sent through the platform's API as a delivery. `send_prepare` (one script: the
 * channel binding and whether the account's endpoint is enabled), for Teams a Bot Framework
 * OAuth token (one process-wide cache keeps it until a minute before it expires,
 * src/channels/outbound.c),
 * the request the channel builds (sb_send_build), the platform's verdict (sb_send_result) and
 * its "too many requests" (sb_send_rate_limited, src/channels/limits.c) under SPEC 8
 * (outcome.h), and a final verdict written into the message (conv_sent: "sent" with
 * message_sent, or "failed") before the delivery is recorded (attempt.c). It may call the
 * store, the client, channels.h's send and token functions, platform.h's send limits, conv's
 * event context, outcome.h and attempt.c. */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "switchboard/alloc.h"
#include "switchboard/conv.h"
#include "switchboard/json.h"
#include "switchboard/platform.h"
#include "switchboard/text.h"

static void on_send_recorded(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        sb__attempt_free(a); /* not recorded: taken over later, the verdict written then */
    else if (a->err[0])
        sb__record_outcome(a, "dead", a->err, true, 0);
    else
        sb__record_outcome(a, "success", NULL, true, 0);
    sb__d_called_back(d);
}

static void send_request(sb__attempt_t *a, const cJSON *chcfg, const char *bearer);

/* A part accepted and another to send (a platform that takes rich content in several
 * requests): the entry remembers the next part, so a retry or a takeover goes on from there
 * (a part accepted whose acceptance was not recorded is sent again: at least once), and the
 * first part's platform id is the message's. */
static void send_next_part(sb__attempt_t *a, const char *pmid)
{
    a->snd.part++;
    cJSON_DeleteItemFromObjectCaseSensitive(a->dj, "pt");
    cJSON_AddNumberToObject(a->dj, "pt", a->snd.part);
    if (pmid && pmid[0] && !cJSON_GetObjectItemCaseSensitive(a->dj, "pm0"))
        cJSON_AddStringToObject(a->dj, "pm0", pmid);
    sb_free(a->resp_body);
    a->resp_body = NULL;
    send_request(a, a->part_cfg, NULL);
}

/* The final verdict of a send is written into the message first (and message_sent emitted for
 * an accepted one), then the delivery is recorded. */
static void send_final(sb__attempt_t *a, bool sent, const char *pmid, const char *error)
{
    sb_delivery_t *d = a->d;
    if (sent && a->more) {
        send_next_part(a, pmid);
        return;
    }
    if (sent && sb_json_str(a->dj, "pm0"))
        pmid = sb_json_str(a->dj, "pm0");
    if (!sent && a->snd.part > 0) /* the customer has the parts before it */
        snprintf(a->err, sizeof(a->err), "part %u: %s (the parts before it were sent)", a->snd.part + 1,
                 error ? error : "");
    else if (!sent)
        snprintf(a->err, sizeof(a->err), "%s", error ? error : "");
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, d->cfg);
    char once[80];
    snprintf(once, sizeof(once), "sent:%.60s", a->id);
    const char *iw = sb_json_str(a->dj, "iw");
    const char *argv[] = {
        cx.json, a->tenant, a->conv, a->seq, pmid ? pmid : "", a->ed, sent ? once : "", sent ? "sent" : "failed",
        a->err, iw ? iw : ""};
    int rc = sb__d_eval(d, &sb_script_conv_sent, 0, SB_ARRAY_SIZE(argv), argv, on_send_recorded, a);
    sb_event_cx_free(&cx);
    if (rc < 0)
        sb__attempt_free(a);
}

/* A failure before or without an answer to judge: final. */
static void send_failed(sb__attempt_t *a, const char *error)
{
    a->outcome = SB_OUTCOME_FAILED;
    send_final(a, false, NULL, error);
}

/* A retry's entry says what its waits were (docs/channels.md "Platform send limits"): "rl", the
 * rate-limit waits so far (not counted against the schedule), and "rla" when the platform's limit
 * is the account's, so that finish holds every chat of the account until the retry is due. */
static void mark_rate_limit(sb__attempt_t *a, const sb_outcome_t *o, int waits, int scope)
{
    cJSON_DeleteItemFromObjectCaseSensitive(a->dj, "rla");
    if (!o->rate_limited)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(a->dj, "rl");
    cJSON_AddNumberToObject(a->dj, "rl", waits + 1);
    if (scope == SB_LIMIT_ACCOUNT)
        cJSON_AddNumberToObject(a->dj, "rla", 1);
}

/* The verdict on an answer (outcome.h): a retry goes back to the head of the chat's line
 * (finish); the others are final. */
static void send_verdict(sb__attempt_t *a, const sb_outcome_t *o, const char *pmid)
{
    switch (o->verdict) {
    case SB_VERDICT_RETRY: sb__record_outcome(a, "retry", o->error, true, o->delay_ms); break;
    case SB_VERDICT_SUCCESS: send_final(a, true, pmid, NULL); break;
    case SB_VERDICT_EXHAUSTED:
        a->outcome = SB_OUTCOME_DEAD;
        send_final(a, false, NULL, o->error);
        break;
    case SB_VERDICT_FINAL:
    case SB_VERDICT_GONE: /* not a verdict on sends: a 410 is final */ send_failed(a, o->error); break;
    }
}

/* ---------- a file to upload first (the incoming webhook, docs/incoming.md) ---------- */

#define FILE_MAX         (2u * 1024 * 1024) /* what WhatsApp's senders may attach (seed 002) */
#define FILE_DEADLINE_MS 10000

/* The Cloud API took the file: its media id is kept in the entry (a retry sends by it, without
 * downloading again), then the message goes out. */
static bool uploaded(sb__attempt_t *a, const sb_client_resp_t *resp)
{
    char id[256];
    if (sb_wa_upload_result(resp->body, resp->body_len, id, sizeof(id)) < 0)
        return false;
    a->uploading = false;
    cJSON_DeleteItemFromObjectCaseSensitive(a->dj, "mi");
    cJSON_AddStringToObject(a->dj, "mi", id);
    a->snd.media_id = sb_json_str(a->dj, "mi");
    sb_free(a->resp_body);
    a->resp_body = NULL;
    send_request(a, cJSON_GetObjectItemCaseSensitive(a->chrec, "config"), NULL);
    return true;
}

static void on_send_response(void *data, const sb_client_resp_t *resp);

/* A download that fails the message at once, with a reason the sender can act on. */
static bool download_failed(sb__attempt_t *a, const sb_client_resp_t *resp)
{
    char why[300];
    if (resp->error == SB_CLIENT_ERR_TOO_LARGE)
        snprintf(why, sizeof(why), "the file is larger than 2 MB");
    else if (resp->error != SB_CLIENT_OK)
        snprintf(why, sizeof(why), "could not download file_url: %s", resp->error_text);
    else if (resp->status != 200)
        snprintf(why, sizeof(why), "file_url answered %d", resp->status);
    else if (resp->body_len == 0)
        snprintf(why, sizeof(why), "file_url returned an empty file");
    else
        return false;
    send_failed(a, why);
    return true;
}

/* An answer the attempt keeps (false: the loop is stopping, the attempt is freed). */
static bool took_answer(sb__attempt_t *a, const sb_client_resp_t *resp)
{
    if (resp->error == SB_CLIENT_ERR_SHUTDOWN) {
        sb__attempt_free(a);
        return false;
    }
    a->resp = *resp;
    a->resp.body = NULL;
    return true;
}

static void on_downloaded(void *data, const sb_client_resp_t *resp)
{
    sb__attempt_t *a = data;
    if (!took_answer(a, resp) || download_failed(a, resp))
        return;
    const char *kind;
    char mime[128], err[300];
    if (sb_wa_media_kind(resp->content_type, resp->body, resp->body_len, &kind, mime, sizeof(mime)) < 0) {
        send_failed(a, "file_url returned a web page, not the file: use a direct download link");
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(a->dj, "mk");
    cJSON_AddStringToObject(a->dj, "mk", kind);
    a->snd.media_kind = sb_json_str(a->dj, "mk");
    const cJSON *chcfg = cJSON_GetObjectItemCaseSensitive(a->chrec, "config");
    sb_send_req_t r;
    size_t n;
    if (sb_wa_upload_build(a->d->cfg, chcfg, mime, a->snd.media_name, resp->body, resp->body_len, &r, &n, err,
                           sizeof(err)) < 0) {
        send_failed(a, err);
        return;
    }
    sb_free(a->shown_url);
    a->shown_url = r.shown_url;
    r.shown_url = NULL;
    a->url = a->shown_url;
    a->uploading = true;
    sb_client_req_t cr = {r.url, "POST", r.headers, r.body, n, a->timeout_ms};
    int rc = sb_client_send(a->d->client, &cr, on_send_response, a);
    sb_send_req_free(&r);
    if (rc < 0)
        send_failed(a, "invalid --graph-api-base");
}

/* Downloads the file (the client's SSRF guard; 2 MB, 10 s), then uploads it. */
static void send_file(sb__attempt_t *a)
{
    a->url = a->file_url;
    sb_client_req_t cr = {.url = a->file_url,
                          .method = "GET",
                          .headers = "Accept: */*\r\n",
                          .timeout_ms = FILE_DEADLINE_MS,
                          .keep_body = FILE_MAX,
                          .max_body = FILE_MAX};
    if (sb_client_send(a->d->client, &cr, on_downloaded, a) < 0)
        send_failed(a, "could not download file_url: not an absolute http(s) URL");
}

static void on_send_response(void *data, const sb_client_resp_t *resp)
{
    sb__attempt_t *a = data;
    if (!took_answer(a, resp))
        return;
    a->resp_body = sb__excerpt(resp->body, resp->body_len, SB__RESPONSE_EXCERPT_CHARS);
    sb_metrics_observe_attempt(a->d->metrics, resp->latency_us);
    char err[200], pmid[128];
    err[0] = pmid[0] = '\0';
    sb_attempt_result_t r = {.kind = SB_ATTEMPT_SEND,
                             .error = resp->error,
                             .error_text = resp->error_text,
                             .status = resp->status,
                             .retry_after_s = resp->retry_after_s,
                             .answer = SB_ANSWER_ACCEPTED,
                             .answer_error = err,
                             .oauth = a->app != NULL,
                             .attempt = a->n};
    if (a->uploading && resp->error == SB_CLIENT_OK && resp->status >= 200 && resp->status < 300) {
        if (uploaded(a, resp))
            return;
        snprintf(err, sizeof(err), "the media upload's answer holds no media id");
        r.answer = SB_ANSWER_REFUSED;
    } else if (resp->error == SB_CLIENT_OK && resp->status >= 200 && resp->status < 300) {
        int v = sb_send_result(a->snd.platform, resp->body, resp->body_len, pmid, sizeof(pmid), err, sizeof(err));
        r.answer = v == SB_SEND_ACCEPTED ? SB_ANSWER_ACCEPTED
                   : v == SB_SEND_RETRY  ? SB_ANSWER_RETRY
                                         : SB_ANSWER_REFUSED;
    }
    if (resp->error == SB_CLIENT_OK && resp->status == 401 && a->app)
        sb_send_token_forget(a->app); /* a revoked or expired Bot Framework token: fetch a new one */
    /* The platform's "too many requests" (limits.c): the line waits what it asked, and the wait
     * is not a failure toward the dead letter (outcome.h). */
    sb_rate_limit_t rl = {0};
    const cJSON *waits = cJSON_GetObjectItemCaseSensitive(a->dj, "rl");
    r.rate_limits =
        cJSON_IsNumber(waits) && waits->valuedouble >= 0 && waits->valuedouble < 1000 ? (int)waits->valuedouble : 0;
    if (r.rate_limits > a->n) /* a replayed dead letter starts again */
        r.rate_limits = a->n;
    if (resp->error == SB_CLIENT_OK &&
        sb_send_rate_limited(a->snd.platform, resp->status, resp->retry_after_s, resp->body, resp->body_len, &rl)) {
        r.rate_limited = true;
        r.retry_after_s = rl.retry_after_s;
        snprintf(err, sizeof(err), "%s", rl.why);
    }
    sb_outcome_t o;
    sb_outcome_decide(&r, &a->d->retry, &o);
    mark_rate_limit(a, &o, r.rate_limits, rl.scope);
    send_verdict(a, &o, pmid);
}

static void send_request(sb__attempt_t *a, const cJSON *chcfg, const char *bearer)
{
    sb_delivery_t *d = a->d;
    sb_send_req_t r;
    char err[300];
    if (sb_send_build(d->cfg, &a->snd, chcfg, bearer, &r, err, sizeof(err)) < 0) {
        send_failed(a, err);
        return;
    }
    sb_free(a->shown_url);
    a->shown_url = r.shown_url;
    r.shown_url = NULL;
    a->url = a->shown_url;
    a->more = r.more;
    if (r.more && !a->part_cfg)
        a->part_cfg = cJSON_Duplicate(chcfg, 1);
    sb_client_req_t cr = {r.url, "POST", r.headers, r.body, strlen(r.body), a->timeout_ms};
    int rc = sb_client_send(d->client, &cr, on_send_response, a);
    sb_send_req_free(&r);
    if (rc < 0)
        send_failed(a, "invalid URL");
}

static void on_token(void *data, const sb_client_resp_t *resp)
{
    sb__attempt_t *a = data;
    if (resp->error == SB_CLIENT_ERR_SHUTDOWN) {
        sb__attempt_free(a);
        return;
    }
    sb_delivery_t *d = a->d;
    const cJSON *chcfg = cJSON_GetObjectItemCaseSensitive(a->chrec, "config");
    a->resp = *resp;
    a->resp.body = NULL;
    char token[SB_BF_TOKEN_MAX];
    if (resp->error == SB_CLIENT_OK && resp->status >= 200 && resp->status < 300 &&
        sb_send_token_put(a->app, resp->body, resp->body_len) == 0 && sb_send_token_get(a->app, token, sizeof(token))) {
        send_request(a, chcfg, token);
        return;
    }
    a->url = d->cfg->botframework_token_url;
    sb_attempt_result_t r = {.kind = SB_ATTEMPT_TOKEN,
                             .error = resp->error,
                             .error_text = resp->error_text,
                             .status = resp->status,
                             .retry_after_s = resp->retry_after_s,
                             .answer = SB_ANSWER_RETRY, /* no token in it */
                             .attempt = a->n};
    sb_outcome_t o;
    sb_outcome_decide(&r, &d->retry, &o);
    send_verdict(a, &o, NULL);
}

static void on_send_prepared_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || d->closing) {
        sb__attempt_free(a);
        return;
    }
    const redisReply *ch = reply->element[0], *en = reply->element[1];
    if (reply->element[2]->integer == 0) {
        sb__record_outcome(a, "drop", NULL, false, 0); /* the tenant was deleted: nothing left to write to */
        return;
    }
    a->chrec = ch->str && ch->len ? cJSON_ParseWithLength(ch->str, ch->len) : NULL;
    const cJSON *chcfg = cJSON_GetObjectItemCaseSensitive(a->chrec, "config");
    if (!cJSON_IsObject(chcfg)) {
        send_failed(a, "the channel was deleted");
        return;
    }
    if (en->str && strcmp(en->str, "0") == 0) {
        send_failed(a, "endpoint disabled");
        return;
    }
    if (a->file_url && !a->snd.media_id && strcmp(a->snd.platform, "whatsapp") == 0) {
        send_file(a);
        return;
    }
    if (strcmp(a->snd.platform, "teams") != 0) {
        send_request(a, chcfg, NULL);
        return;
    }
    a->app = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(chcfg, "appId"));
    const char *pw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(chcfg, "appPassword"));
    char buf[SB_BF_TOKEN_MAX];
    const char *token = a->app && sb_send_token_get(a->app, buf, sizeof(buf)) ? buf : NULL;
    if (token || !a->app || !pw || !sb_teams_service_url_allowed(chcfg, a->snd.service_url)) {
        send_request(a, chcfg, token); /* or its error: no password, serviceUrl not allowed */
        return;
    }
    char *form = sb_send_token_request(a->app, pw);
    sb_client_req_t cr = {d->cfg->botframework_token_url,
                          "POST",
                          "Content-Type: application/x-www-form-urlencoded\r\nConnection: keep-alive\r\n",
                          form,
                          strlen(form),
                          a->timeout_ms};
    int rc = sb_client_send(d->client, &cr, on_token, a);
    sb_free(form);
    if (rc < 0)
        send_failed(a, "invalid --botframework-token-url");
}

static void on_send_prepared(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((sb__attempt_t *)data)->d;
    on_send_prepared_body(st, reply, data);
    sb__d_called_back(d);
}

static bool send_parse(sb__attempt_t *a)
{
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(a->dj, "seq");
    a->send = true;
    a->conv = sb_json_str(a->dj, "cid");
    a->ch = sb_json_str(a->dj, "ch");
    a->pk = sb_json_str(a->dj, "pk");
    a->ed = sb_json_str(a->dj, "ed");
    a->snd.platform = sb_json_str(a->dj, "pf");
    a->snd.chat = sb_json_str(a->dj, "chat");
    a->snd.service_url = sb_json_str(a->dj, "svc");
    a->snd.thread = sb_json_str(a->dj, "th");
    a->snd.text = sb_json_str(a->dj, "tx");
    a->file_url = sb_json_str(a->dj, "fu"); /* the incoming webhook's file and, once uploaded, its media id */
    a->snd.media_id = sb_json_str(a->dj, "mi");
    a->snd.media_kind = sb_json_str(a->dj, "mk");
    a->snd.media_name = sb_json_str(a->dj, "fn");
    if (a->file_url && !a->snd.media_name)
        return false;
    const char *rm = sb_json_str(a->dj, "rm");
    if (rm) {
        char jerr[SB_JSON_ERR_MAX];
        a->rich = sb_json_parse(rm, strlen(rm), jerr);
        if (!cJSON_IsObject(a->rich))
            return false;
        sb_content_view(&a->content, a->rich);
        a->snd.content = &a->content;
    }
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(a->dj, "pt");
    if (pt && (!cJSON_IsNumber(pt) || pt->valuedouble < 0 || pt->valuedouble > 64))
        return false;
    a->snd.part = pt ? (unsigned)pt->valuedouble : 0;
    if (!cJSON_IsNumber(seq) || seq->valuedouble < 1 || seq->valuedouble > 9007199254740992.0)
        return false;
    snprintf(a->seq, sizeof(a->seq), "%.0f", seq->valuedouble);
    return a->conv && sb_uuid_valid(a->conv, strlen(a->conv)) && a->ch && a->pk && a->ed && a->snd.platform &&
           a->snd.chat && a->snd.text;
}

static void send_start(sb__attempt_t *a, const char *k_secret, const char *k_ep)
{
    SB_UNUSED(k_secret); /* a send is not signed: the platform takes its own credential */
    char k_ch[SB_KEY_MAX], k_tenant[SB_KEY_MAX], k_apichat[SB_KEY_MAX];
    sb_key_tenant(k_ch, a->tenant, "channels");
    sb_key_tenant(k_tenant, a->tenant, "tenant");
    sb_key_tenant(k_apichat, a->tenant, "apichat");
    const char *argv[] = {k_ch, k_ep, k_tenant, k_apichat, a->ch};
    if (sb__d_eval(a->d, &sb_script_send_prepare, 4, 5, argv, on_send_prepared, a) < 0)
        sb__attempt_free(a);
}

const sb__attempt_kind_t sb__send_kind = {send_parse, send_start, NULL};
