/* libFuzzer target: arbitrary bytes as the answer an HTTP server sends the client.
 *
 * The input goes through the HTTP client's response parser (src/http/client.c, its interface
 * in src/http/client_parse.h: sb__resp_parser_init, _feed, _eof, _result), the code every
 * webhook delivery, platform send, agent command and Bot Framework key fetch runs on what a
 * remote server answers. The parser keeps the status, Retry-After (dated against a fixed clock
 * here), the first keep_body bytes of the body and the count of all of them, and whether the
 * connection may carry another call.
 *
 * The first three input bytes are the set-up, the rest is the response:
 *   byte 0       keep_body: caps[byte % 4] (the client's default, 1024, 64, 1), and the chunk
 *                size of the third parse: 1 + (byte >> 2) % 16;
 *   bytes 1, 2   the cut of the second parse: (byte1 << 8 | byte2) % (length + 1).
 *
 * The response is parsed three times, each fed as the client feeds it (never an empty read, no
 * more reads once the response is complete or malformed, then the connection's end when neither
 * happened): in one piece; cut in two at the chosen point; in small chunks with the client's
 * default cap, which keeps every body byte of an input shorter than that cap.
 *
 * Invariants (a broken one aborts):
 * - a feed returns SB__RESP_MORE, _DONE or _ERROR; _DONE means complete, _ERROR carries an
 *   llhttp error (neither HPE_OK nor HPE_PAUSED) with a name; keep_alive only when complete;
 * - a complete response's status is 101 or 200..999: a shorter status line is malformed,
 *   interim 1xx answers are skipped;
 * - body_len <= keep_body, and body_len == min(body_total, keep_body): the cap truncates, it
 *   never fails the response; the body is NUL-terminated (its users may read it as a string);
 * - retry_after_s is -1 or a count of seconds >= 0;
 * - how the bytes are cut changes nothing: the three parses end the same way (complete,
 *   malformed with the same llhttp error, or cut short) with the same status, body_total,
 *   Retry-After, the same body bytes (the capped ones a prefix of the uncapped ones), and the
 *   same answer to "may the connection be reused" (a response that completes at a cut, with
 *   bytes after it, would leave them on an idle connection, which the client closes);
 * - sb__resp_parser_eof says true exactly when the connection's end completed the response;
 * - AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer find nothing.
 *
 * Build and run: docs/fuzzing.md. tests/fuzz/make_seeds.py writes corpus-client/. */
#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../src/http/client_parse.h"
#include "switchboard/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__ubsan_default_options(void);

/* An UndefinedBehaviorSanitizer report stops the run like a crash, whatever UBSAN_OPTIONS says
 * (without halt_on_error, UBSan prints and carries on, and the fuzzer would not save the input). */
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_client: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

#define NOW 1800000000 /* the parser's clock: 2027-01-15T08:00:00Z */

static const size_t caps[4] = {SB_CLIENT_KEEP_BODY, 1024, 64, 1};
static bool verbose; /* FUZZ_CLIENT_SHOW=1: print how each input's parses ended (seed upkeep) */

static int64_t fixed_now(void)
{
    return NOW;
}

/* How one parse ended, and what the client would report. */
typedef struct {
    sb__resp_parser_t p;
    size_t cap;
    int rc;        /* the last feed's SB__RESP_*; SB__RESP_MORE: the bytes ran out first */
    bool eof_done; /* SB__RESP_MORE, and the connection's end completed the response */
    bool reuse;    /* complete, keep-alive and no byte left over */
    sb_client_resp_t r;
} parse_t;

/* Feeds data[0..len) cut at cuts[0..ncuts) (increasing), as the client does. */
static void parse(parse_t *o, size_t cap, const char *data, size_t len, const size_t *cuts, size_t ncuts)
{
    memset(o, 0, sizeof(*o));
    o->cap = cap;
    sb__resp_parser_init(&o->p, cap, fixed_now);
    o->rc = SB__RESP_MORE;
    size_t at = 0;
    bool left = false;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end == at)
            continue; /* the client never feeds an empty read */
        if (o->rc != SB__RESP_MORE) {
            left = true; /* bytes after a complete response: they would reach an idle connection */
            break;
        }
        o->rc = sb__resp_parser_feed(&o->p, data + at, end - at);
        CHECK(o->rc == SB__RESP_MORE || o->rc == SB__RESP_DONE || o->rc == SB__RESP_ERROR);
        CHECK((o->rc == SB__RESP_DONE) == o->p.complete);
        at = end;
    }
    if (o->rc == SB__RESP_MORE && len > 0) {
        o->eof_done = sb__resp_parser_eof(&o->p);
        /* a body that runs to the end of the connection completes there */
        CHECK(o->eof_done == o->p.complete);
        if (o->eof_done)
            o->p.keep_alive = false; /* as the client does: the connection is gone */
    }
    CHECK(!o->p.keep_alive || o->p.complete);
    o->reuse = o->p.complete && o->p.keep_alive && !left;
    sb__resp_parser_result(&o->p, &o->r);
}

static void check_one(const parse_t *o, size_t len)
{
    const sb__resp_parser_t *p = &o->p;
    const sb_client_resp_t *r = &o->r;
    if (o->rc == SB__RESP_ERROR) {
        CHECK(p->error != HPE_OK && p->error != HPE_PAUSED);
        const char *name = sb__resp_parser_error(p);
        CHECK(name && strncmp(name, "HPE_", 4) == 0);
    }
    /* a complete response has a status of three digits (a shorter one is malformed), and is
     * the final one (interim 1xx answers are skipped) */
    CHECK(p->status >= 0 && p->status <= 999);
    CHECK(!p->complete || (p->status >= 100 && p->status <= 999 && (p->status >= 200 || p->status == 101)));
    CHECK(r->status == p->status);
    CHECK(r->body != NULL);
    CHECK(r->body_len <= o->cap);
    CHECK(r->body_len == (r->body_total < o->cap ? r->body_total : o->cap));
    CHECK(r->body[r->body_len] == '\0');
    CHECK(r->body_total <= len);
    CHECK(r->retry_after_s >= -1);
}

/* b was parsed from the same bytes as a, cut differently, with a cap at least as large. */
static void check_same(const parse_t *a, const parse_t *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->eof_done == b->eof_done);
    CHECK(a->p.complete == b->p.complete);
    if (a->rc == SB__RESP_ERROR)
        CHECK(a->p.error == b->p.error);
    CHECK(a->p.status == b->p.status);
    CHECK(a->r.body_total == b->r.body_total);
    CHECK(a->r.retry_after_s == b->r.retry_after_s);
    CHECK(a->reuse == b->reuse);
    CHECK(a->r.body_len <= b->r.body_len);
    CHECK(memcmp(a->r.body, b->r.body, a->r.body_len) == 0);
}

static void show(const char *what, const parse_t *o)
{
    static const char *const rcs[] = {"malformed", "cut short", "complete"};
    fprintf(stderr, "  %-7s %s%s%s%s, status %d, body %zu of %zu (cap %zu), retry-after %ld, %s\n", what,
            rcs[o->rc + 1], o->eof_done ? " at the end of the connection" : "", o->rc == SB__RESP_ERROR ? ": " : "",
            o->rc == SB__RESP_ERROR ? sb__resp_parser_error(&o->p) : "", o->p.status, o->r.body_len, o->r.body_total,
            o->cap, o->r.retry_after_s, o->reuse ? "connection reused" : "connection closed");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *v = getenv("FUZZ_CLIENT_SHOW");
    verbose = v && *v == '1';
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t cap = caps[data[0] % 4];
    size_t chunk = 1 + (size_t)(data[0] >> 2) % 16;
    const char *resp = (const char *)data + 3;
    size_t len = size - 3;
    size_t cut = ((size_t)data[1] << 8 | data[2]) % (len + 1);

    static parse_t whole, halves, chunks; /* static: a parse_t is a few hundred bytes */
    parse(&whole, cap, resp, len, NULL, 0);
    check_one(&whole, len);

    parse(&halves, cap, resp, len, &cut, 1);
    check_one(&halves, len);
    check_same(&whole, &halves);
    check_same(&halves, &whole);

    size_t ncuts = len / chunk;
    size_t *cuts = malloc((ncuts ? ncuts : 1) * sizeof(*cuts));
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * chunk;
    parse(&chunks, SB_CLIENT_KEEP_BODY, resp, len, cuts, ncuts);
    check_one(&chunks, len);
    check_same(&whole, &chunks);
    if (verbose) {
        show("whole", &whole);
        show("cut", &halves);
        show("chunks", &chunks);
    }

    sb__resp_parser_free(&whole.p);
    sb__resp_parser_free(&halves.p);
    sb__resp_parser_free(&chunks.p);
    free(cuts);
    return 0;
}
