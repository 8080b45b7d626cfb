/* Outcomes of an attempt and the retry schedule (SPEC 8; docs/deliveries.md "Outcomes and
 * retries"), and the pacing gap (seed 002): src/delivery/outcome.c. Pure: no I/O, no clock, no
 * globals; the jitter comes from the caller (the CSPRNG in the process, src/delivery/engine.c;
 * a fixed source in tests/unit/test_outcome.c).
 *
 * The rules, as SPEC 8 states them:
 *   - 2xx: success (a platform send: the platform's own verdict in it decides);
 *   - 3xx: failure, not followed, retried like a 5xx;
 *   - 5xx, 429, a status below 200, network errors and timeouts: retried on the schedule, a
 *     Retry-After honoured within [1 s, 1 h]; after the last step: dead letter;
 *   - other 4xx: final (dead letter), no retry; 410 on a webhook: final, and the endpoint is
 *     disabled. A platform send carrying a Bot Framework token retries a 401 (with a new token);
 *     the token endpoint's own 4xx but 429 are final (its credentials are wrong).
 *   - a platform send the platform refused for its rate (rate_limited: HTTP 429, Slack's
 *     "ratelimited", Telegram's error_code 429, WhatsApp's 130429 ...; src/channels/limits.c reads
 *     the answer) waits what the platform asked, within [1 s, 1 h], and is not counted against the
 *     schedule: up to SB_RATE_LIMIT_RETRIES such waits per delivery, after which a rate limit is a
 *     failure like a 429 of a webhook (docs/channels.md "Platform send limits").
 * Not here: disabling an endpoint that has failed without a success for --disable-after-ms.
 * That needs the endpoint's failingSince, which the finish script reads and writes atomically
 * with the failure it records (src/store/lua/finish.lua), so the rule lives there. */
#ifndef SWITCHBOARD_OUTCOME_H
#define SWITCHBOARD_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "switchboard/client.h"

typedef enum sb_attempt_kind {
    SB_ATTEMPT_WEBHOOK = 0, /* an event, agent or test delivery to a subscriber */
    SB_ATTEMPT_SEND = 1,    /* a platform send (docs/channels.md "Replies out") */
    SB_ATTEMPT_TOKEN = 2,   /* a platform send's Bot Framework token request */
} sb_attempt_kind_t;

/* A 2xx answer's own verdict: a platform's (Slack's "ok":false, Telegram's "ok"), or for a
 * token request whether it held a token. Webhooks: always accepted. */
enum { SB_ANSWER_ACCEPTED = 0, SB_ANSWER_REFUSED = 1, SB_ANSWER_RETRY = 2 };

typedef struct sb_attempt_result {
    sb_attempt_kind_t kind;
    int error;                /* SB_CLIENT_OK, or the client's error (SB_CLIENT_ERR_TIMEOUT, ...) */
    const char *error_text;   /* the client's text for it */
    int status;               /* the HTTP status, when error is SB_CLIENT_OK */
    long retry_after_s;       /* the answer's Retry-After in seconds, -1: none */
    int answer;               /* a 2xx's own verdict (SB_ANSWER_*) */
    const char *answer_error; /* a send's refusal or retry reason from the platform (may be NULL) */
    bool oauth;               /* a send carrying an OAuth token: a 401 means it ran out */
    int attempt;              /* 0 for the first attempt */
    bool rate_limited;        /* a send refused for the platform's rate (retry_after_s: its wait) */
    int rate_limits;          /* the delivery's earlier rate-limit waits (not counted in attempt's step) */
} sb_attempt_result_t;

/* Rate-limit waits of one platform send that do not count against the retry schedule. */
#define SB_RATE_LIMIT_RETRIES 20

typedef enum sb_verdict {
    SB_VERDICT_SUCCESS = 0,
    SB_VERDICT_RETRY = 1,     /* again after delay_ms */
    SB_VERDICT_FINAL = 2,     /* a final failure: dead letter, no retry */
    SB_VERDICT_EXHAUSTED = 3, /* retryable, but that was the schedule's last step: dead letter */
    SB_VERDICT_GONE = 4,      /* 410: dead letter, and the endpoint is disabled */
} sb_verdict_t;

/* A uniform 32-bit number for the jitter. */
typedef uint32_t (*sb_jitter_fn)(void *data);

typedef struct sb_retry_schedule {
    const unsigned *delays_s; /* --retry-schedule: the first value is the first attempt's delay */
    unsigned steps;
    sb_jitter_fn jitter;
    void *jitter_data;
} sb_retry_schedule_t;

#define SB_OUTCOME_ERROR_MAX 240

typedef struct sb_outcome {
    sb_verdict_t verdict;
    uint64_t delay_ms;                /* RETRY: from now to the next attempt */
    bool rate_limited;                /* RETRY: a rate-limit wait, not a step of the schedule */
    char error[SB_OUTCOME_ERROR_MAX]; /* what the attempt log and the dead letter say; "" on success */
} sb_outcome_t;

/* The attempt's outcome under SPEC 8: the classification, then, for a retryable failure, the
 * next step of the schedule (sb_retry_next) after attempt - rate_limits steps, or for a
 * rate-limit wait (while rate_limits < SB_RATE_LIMIT_RETRIES) the platform's Retry-After. The
 * jitter is drawn only for a step of the schedule. */
void sb_outcome_decide(const sb_attempt_result_t *r, const sb_retry_schedule_t *s, sb_outcome_t *out);

/* The delay before the attempt after attempt n (0-based) failed: the schedule's step n + 1 with
 * +-20 % jitter, at least the Retry-After (clamped to [1 s, 1 h]) when there is one. false when
 * the schedule has no step n + 1 (retries exhausted). */
bool sb_retry_next(const sb_retry_schedule_t *s, int n, long retry_after_s, uint64_t *delay_ms);

/* A pacing gap: uniform in [0.85, 1.25] x pace_ms for r uniform over 32 bits, so deliveries of
 * one pacing key are at least 0.8 x pace apart even with a few ms of send-time variance. */
unsigned sb_pace_gap_ms(unsigned pace_ms, uint32_t r);

#endif
