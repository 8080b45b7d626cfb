/* hiredis <-> libuv glue for the store's connections, in place of hiredis's own libuv adapter.
 *
 * That adapter calls uv_poll_start() on every read and write hook, and libuv's uv_poll_start()
 * drops and re-adds the descriptor in epoll each time: two epoll_ctl calls per batch of commands
 * and two more per batch of replies. Here the socket is registered for reading once, and a
 * connected context's output is written by a prepare handle just before the loop next polls:
 * every command queued in one loop iteration leaves in one write(2), with no epoll_ctl at all.
 * Only a socket that cannot take the whole buffer (or one still connecting, where hiredis must
 * not be asked to write before the socket is writable) is polled for writability. */
#include <async.h>
#include <stdbool.h>
#include <stdlib.h>

#include "redis_conn.h"
#include "switchboard/alloc.h"

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis let go of it */
    uv_poll_t poll;
    uv_prepare_t flush;
    int events;      /* what the poll handle watches */
    bool want_write; /* output queued, to be written by the flush */
    bool in_flush;   /* inside the flush's write: a second addWrite means the socket is full */
    int open;        /* handles not yet closed */
} redis_uv_t;

static void on_poll(uv_poll_t *h, int status, int events);

static void set_events(redis_uv_t *p, int events)
{
    if (events == p->events)
        return;
    p->events = events;
    if (events)
        uv_poll_start(&p->poll, events, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    redis_uv_t *p = h->data;
    /* A poll error (libuv has stopped the handle: forget what it watched) is handed to a read,
     * which sees it: a refused connect or a dead socket disconnects at once. */
    if (status < 0)
        p->events = 0;
    if (p->ac && (status < 0 || (events & UV_READABLE)))
        redisAsyncHandleRead(p->ac);
    if (p->ac && status == 0 && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void on_flush(uv_prepare_t *h)
{
    redis_uv_t *p = h->data;
    uv_prepare_stop(&p->flush);
    if (!p->ac || !p->want_write)
        return;
    p->in_flush = true;
    redisAsyncHandleWrite(p->ac); /* may free the context (write error): p->ac is then NULL */
    p->in_flush = false;
}

static void add_read(void *data)
{
    redis_uv_t *p = data;
    set_events(p, p->events | UV_READABLE);
}

static void del_read(void *data)
{
    redis_uv_t *p = data;
    set_events(p, p->events & ~UV_READABLE);
}

static void add_write(void *data)
{
    redis_uv_t *p = data;
    p->want_write = true;
    if (p->in_flush || !p->ac || !(p->ac->c.flags & REDIS_CONNECTED)) {
        /* Still connecting, or the socket took only part of the output: wait until writable. */
        set_events(p, p->events | UV_WRITABLE);
        return;
    }
    if (!(p->events & UV_WRITABLE))
        uv_prepare_start(&p->flush, on_flush);
}

static void del_write(void *data)
{
    redis_uv_t *p = data;
    p->want_write = false;
    uv_prepare_stop(&p->flush);
    set_events(p, p->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h)
{
    redis_uv_t *p = h->data;
    if (--p->open == 0)
        sb_free(p);
}

static void cleanup(void *data)
{
    redis_uv_t *p = data;
    p->ac = NULL;
    p->want_write = false;
    uv_close((uv_handle_t *)&p->poll, on_closed);
    uv_close((uv_handle_t *)&p->flush, on_closed);
}

int sb_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return -1;
    redis_uv_t *p = sb_calloc(1, sizeof(*p));
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        sb_free(p);
        return -1;
    }
    uv_prepare_init(loop, &p->flush);
    p->ac = ac;
    p->poll.data = p;
    p->flush.data = p;
    p->open = 2;
    ac->ev.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
