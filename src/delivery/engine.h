/* What the parts of one loop's delivery engine share (not a public header): the engine that
 * engine.c composes, the attempt of a delivery that attempt.c starts and records and webhook.c
 * or send.c carries out, and the functions each part offers the others. sweeps.c uses the
 * engine only. Every store command whose callback touches the engine or one of its attempts
 * is counted (sb__d_pending / sb__d_eval, pending.c) and its callback ends with
 * sb__d_called_back. The parts call down (attempt.c, pending.c), never up to engine.c. */
#ifndef SWITCHBOARD_DELIVERY_ENGINE_H
#define SWITCHBOARD_DELIVERY_ENGINE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "switchboard/channels.h"
#include "switchboard/delivery.h"
#include "switchboard/jobs.h"
#include "switchboard/json.h"
#include "switchboard/conv.h"
#include "switchboard/outcome.h"

#define SB__RESPONSE_EXCERPT_CHARS 4096

typedef struct sb__prep_entry sb__prep_entry_t; /* webhook.c */
typedef struct sb__sweeps sb__sweeps_t;         /* sweeps.c */
typedef struct sb__attempt sb__attempt_t;

/* What carries out an attempt of one kind of delivery (webhook.c: events and agent calls,
 * send.c: platform sends). attempt.c reads the entry and records the outcome; it calls these
 * through the table engine.c fills, so it names neither file. */
typedef struct sb__attempt_kind {
    bool (*parse)(sb__attempt_t *a); /* the kind's own members; false: malformed (NULL: none) */
    void (*start)(sb__attempt_t *a, const char *k_secret, const char *k_ep);
    void (*forget)(sb__attempt_t *a); /* the endpoint was disabled: drop cached state (NULL: none) */
} sb__attempt_kind_t;

/* A delivery lane (fresh or retry) as its attempts see it: the stream their outcome is
 * acknowledged on. */
typedef struct sb__lane {
    sb_delivery_t *d;
    const char *stream;
} sb__lane_t;

struct sb_delivery {
    uv_loop_t *loop;
    const sb_config_t *cfg;
    sb_metrics_t *metrics;
    sb_store_t *store; /* the loop's connection: scripts */
    sb_client_t *client;
    sb_jobs_t *jobs;
    unsigned index;
    bool closing;
    sb_retry_schedule_t retry;            /* --retry-schedule with the CSPRNG's jitter */
    sb__lane_t lanes[2];                  /* fresh, retry */
    sb__attempt_kind_t webhook, send;     /* engine.c fills them from webhook.c and send.c */
    void (*free_parts)(sb_delivery_t *d); /* engine.c: run once the last counted command called back */
    sb_inbound_fn inbound;                /* the inbound lane's job (sb_delivery_set_inbound) */
    sb__prep_entry_t *prep;               /* webhook.c: direct-mapped cache of `prepare` answers */
    sb__sweeps_t *sweeps;
    void (*done)(void *);
    void *done_data;
    /* Commands on the loop's store whose callbacks still hold this engine or one of its
     * attempts. The store is closed after the engine, so the engine is freed only once the
     * last of them has called back. */
    unsigned store_pending;
    bool parts_closed;
};

struct sb__attempt {
    sb_delivery_t *d;
    const char *stream; /* its lane's */
    sb_job_done_fn done;
    void *done_data;
    char entry[48];
    cJSON *dj;
    const char *id, *tenant, *event, *url, *ep, *body;
    const char *agent, *conv; /* an agent delivery: its answer may carry the agent's reply */
    /* a platform send (k "send", docs/channels.md): conv is its conversation */
    bool send;
    const char *ch, *pk, *ed, *app;
    char seq[24];
    sb_send_t snd;
    cJSON *chrec;                   /* the channel binding, while a Teams token is fetched */
    /* rich content (entry "rm", docs/messages.md) and the part being sent (entry "pt"): a
     * message some platform sends in several requests goes out part after part in one attempt */
    cJSON *rich, *part_cfg; /* the parsed content; the channel config kept for the next part */
    sb_content_t content;   /* a view of rich */
    bool more;              /* the part in flight is not the last */
    /* a file to send first (entry "fu", the incoming webhook): the request in flight is its upload */
    const char *file_url;
    bool uploading;
    char *shown_url;                /* the URL as records show it; a->url points here once built */
    char err[SB_OUTCOME_ERROR_MAX]; /* a send's final error */
    unsigned timeout_ms;
    int n;
    sb_webhook_secret_t secret;
    sb_client_resp_t resp;
    char *resp_body;
    int outcome; /* the metric's slot of a final failure: SB_OUTCOME_FAILED or _DEAD */
};

/* engine.c */
int sb__d_pending(sb_delivery_t *d, int rc);
int sb__d_eval(sb_delivery_t *d, const sb_script_t *script, int nkeys, int argc, const char **argv, sb_store_cb cb,
               void *data);
void sb__d_called_back(sb_delivery_t *d); /* last statement of such a callback */
uint32_t sb__random_u32(void);

/* attempt.c: the job of the fresh and retry lanes (data: its sb__lane_t) */
void sb__attempt_job(void *data, const char *entry, const char *json, size_t len, sb_job_done_fn done, void *done_data);
/* The attempt is over (its entry settled or left pending): frees it, frees its lane's slot. */
void sb__attempt_free(sb__attempt_t *a);
/* The finish script: the attempt log (logged), the endpoint's state, the retry (due delay_ms from
 * now) or the dead letter, then the entry's acknowledgement. outcome: success | retry | dead |
 * gone | skip | drop. */
void sb__record_outcome(sb__attempt_t *a, const char *outcome, const char *error, bool logged, uint64_t delay_ms);
char *sb__excerpt(const char *s, size_t n, size_t max_chars);

/* webhook.c: signs and sends an event or agent delivery once its secrets and endpoint state are
 * known; its `prepare` cache is forgotten for an endpoint that was just disabled. */
void sb__webhook_init(sb_delivery_t *d);
void sb__webhook_free(sb_delivery_t *d);
extern const sb__attempt_kind_t sb__webhook_kind;

/* send.c: a send entry's own members (conv_reply wrote them), then the platform's request. */
extern const sb__attempt_kind_t sb__send_kind;

/* sweeps.c: registers its periodic tasks with d->jobs */
sb__sweeps_t *sb__sweeps_new(sb_delivery_t *d);
void sb__sweeps_free(sb__sweeps_t *s);

#endif
