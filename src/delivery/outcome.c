/* SPEC 8's outcomes of an attempt, the retry schedule with its jitter and Retry-After bounds, and
 * the pacing gap (outcome.h). Pure: it calls nothing but snprintf and the jitter it is given;
 * webhook.c and send.c turn its verdicts into the finish script's outcomes. */
#include <stdio.h>
#include <string.h>

#include "switchboard/outcome.h"

#define RETRY_AFTER_MIN_S 1
#define RETRY_AFTER_MAX_S 3600 /* a Retry-After is honoured within [1 s, 1 h] */

static bool is_2xx(int status)
{
    return status >= 200 && status < 300;
}

static bool is_3xx(int status)
{
    return status >= 300 && status < 400;
}

static void classify_webhook(const sb_attempt_result_t *r, sb_outcome_t *o)
{
    if (r->error != SB_CLIENT_OK) {
        o->verdict = SB_VERDICT_RETRY; /* network errors and timeouts */
        snprintf(o->error, sizeof(o->error), "%s", r->error_text ? r->error_text : "");
    } else if (is_2xx(r->status)) {
        o->verdict = SB_VERDICT_SUCCESS;
    } else if (r->status == 410) {
        o->verdict = SB_VERDICT_GONE;
        snprintf(o->error, sizeof(o->error), "410 Gone: endpoint disabled");
    } else if (r->status >= 500 || r->status == 429 || is_3xx(r->status) || r->status < 200) {
        o->verdict = SB_VERDICT_RETRY;
        snprintf(o->error, sizeof(o->error), "HTTP %d%s", r->status,
                 is_3xx(r->status) ? " (redirects are not followed)" : "");
    } else {
        o->verdict = SB_VERDICT_FINAL; /* other 4xx: final, a 403 never loops */
        snprintf(o->error, sizeof(o->error), "HTTP %d (final)", r->status);
    }
}

static void classify_send(const sb_attempt_result_t *r, sb_outcome_t *o)
{
    const char *why = r->answer_error ? r->answer_error : "";
    if (r->error == SB_CLIENT_OK && r->rate_limited) {
        o->verdict = SB_VERDICT_RETRY;
        snprintf(o->error, sizeof(o->error), "rate limited (%s), retry after %ld s", why[0] ? why : "HTTP 429",
                 r->retry_after_s);
    } else if (r->error != SB_CLIENT_OK) {
        o->verdict = SB_VERDICT_RETRY;
        snprintf(o->error, sizeof(o->error), "%s", r->error_text ? r->error_text : "");
    } else if (is_2xx(r->status)) {
        /* The platform's verdict: Slack answers most failures with a 200 */
        o->verdict = r->answer == SB_ANSWER_ACCEPTED ? SB_VERDICT_SUCCESS
                     : r->answer == SB_ANSWER_RETRY  ? SB_VERDICT_RETRY
                                                     : SB_VERDICT_FINAL;
        if (o->verdict != SB_VERDICT_SUCCESS)
            snprintf(o->error, sizeof(o->error), "%s", why);
    } else if (r->status >= 500 || r->status == 429 || r->status < 200 || is_3xx(r->status) ||
               (r->status == 401 && r->oauth)) {
        /* a 401 with a Bot Framework token: revoked or expired, retried with a new one */
        o->verdict = SB_VERDICT_RETRY;
        snprintf(o->error, sizeof(o->error), "HTTP %d", r->status);
    } else {
        o->verdict = SB_VERDICT_FINAL;
        snprintf(o->error, sizeof(o->error), "HTTP %d (final)", r->status);
    }
}

static void classify_token(const sb_attempt_result_t *r, sb_outcome_t *o)
{
    if (r->error != SB_CLIENT_OK) {
        o->verdict = SB_VERDICT_RETRY;
        snprintf(o->error, sizeof(o->error), "token endpoint: %s", r->error_text ? r->error_text : "");
    } else if (is_2xx(r->status) && r->answer == SB_ANSWER_ACCEPTED) {
        o->verdict = SB_VERDICT_SUCCESS;
    } else if (r->status >= 400 && r->status < 500 && r->status != 429) {
        o->verdict = SB_VERDICT_FINAL;
        snprintf(o->error, sizeof(o->error), "token endpoint: HTTP %d (check appId and appPassword)", r->status);
    } else {
        o->verdict = SB_VERDICT_RETRY;
        snprintf(o->error, sizeof(o->error), "token endpoint: HTTP %d%s", r->status,
                 is_2xx(r->status) ? " without an access_token" : "");
    }
}

static long retry_after_bounded(long retry_after_s)
{
    return retry_after_s < RETRY_AFTER_MIN_S   ? RETRY_AFTER_MIN_S
           : retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S
                                               : retry_after_s;
}

bool sb_retry_next(const sb_retry_schedule_t *s, int n, long retry_after_s, uint64_t *delay_ms)
{
    int next = n + 1;
    if (next < 0 || (unsigned)next >= s->steps)
        return false;
    unsigned base = s->delays_s[next] * 1000u;
    uint32_t r = s->jitter(s->jitter_data);
    /* +-20 % jitter */
    double f = 0.8 + 0.4 * ((double)r / 4294967295.0);
    uint64_t delay = (unsigned)(base * f);
    if (retry_after_s >= 0) { /* honoured within [1 s, 1 h] */
        long ra = retry_after_bounded(retry_after_s);
        if ((uint64_t)ra * 1000 > delay)
            delay = (uint64_t)ra * 1000;
    }
    *delay_ms = delay;
    return true;
}

void sb_outcome_decide(const sb_attempt_result_t *r, const sb_retry_schedule_t *s, sb_outcome_t *out)
{
    out->verdict = SB_VERDICT_FINAL;
    out->delay_ms = 0;
    out->rate_limited = false;
    out->error[0] = '\0';
    bool send = r->kind == SB_ATTEMPT_SEND;
    if (send)
        classify_send(r, out);
    else if (r->kind == SB_ATTEMPT_TOKEN)
        classify_token(r, out);
    else
        classify_webhook(r, out);
    int waits = send && r->rate_limits > 0 ? r->rate_limits : 0;
    if (waits > r->attempt) /* a replayed dead letter starts again at attempt 0 */
        waits = r->attempt;
    if (out->verdict == SB_VERDICT_RETRY && send && r->rate_limited && waits < SB_RATE_LIMIT_RETRIES) {
        out->rate_limited = true; /* the platform's wait, not a step of the schedule */
        out->delay_ms = (uint64_t)retry_after_bounded(r->retry_after_s) * 1000;
        return;
    }
    if (out->verdict != SB_VERDICT_RETRY || sb_retry_next(s, r->attempt - waits, r->retry_after_s, &out->delay_ms))
        return;
    out->verdict = SB_VERDICT_EXHAUSTED;
    if (r->kind != SB_ATTEMPT_WEBHOOK) { /* a send's message records why it failed in the end */
        static const char prefix[] = "retries exhausted, last: ";
        size_t p = sizeof(prefix) - 1, n = strlen(out->error);
        if (p + n >= sizeof(out->error)) /* cut as snprintf would */
            n = sizeof(out->error) - 1 - p;
        memmove(out->error + p, out->error, n);
        memcpy(out->error, prefix, p);
        out->error[p + n] = '\0';
    }
}

/* A pacing gap: uniform in [0.85, 1.25] x pace, so deliveries of one pacing key are at least 0.8 x pace
 * apart even with a few ms of send-time variance. */
unsigned sb_pace_gap_ms(unsigned pace_ms, uint32_t r)
{
    double f = 0.85 + 0.40 * ((double)r / 4294967295.0);
    return (unsigned)(pace_ms * f);
}
