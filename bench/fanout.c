/* bench/fanout.c — delivery fan-out benchmark: event generator and keep-alive webhook sink.
 *
 *   fanout -p SB_PORT -s SINK_PORT -k API_KEY [-c CONNS] [-w WARMUP] [-W WAIT_S]
 *          [-e EVENT] [-m NAME=PID]... [-o FILE] burst N
 *   fanout ... rate R D
 *   fanout ... drain N
 *
 * One process, two threads:
 *   * the sink (its own thread) listens on 127.0.0.1:SINK_PORT, speaks HTTP/1.1 keep-alive
 *     (pipelining and partial reads handled, Content-Length bodies), answers every request with
 *     "HTTP/1.1 200 OK" + "Content-Length: 0" at once, takes "t" (send time, CLOCK_REALTIME ns)
 *     and "i" (event index) out of the delivered JSON body and records arrival - t;
 *   * the generator (main thread) keeps CONNS (default 32) keep-alive connections to
 *     switchboard on 127.0.0.1:SB_PORT and sends
 *       POST /api/webhooks/test  {"event":EVENT,"data":{"t":<CLOCK_REALTIME ns>,"i":<index>}}
 *     with X-API-Key, one request in flight per connection, expecting 202. `burst N` sends N
 *     events as fast as the connections allow; `rate R D` sends R events/s for D seconds on a
 *     fixed schedule (open loop: a send is never skipped, a late one is counted in send_lag).
 *     `drain N` pauses the sink (it reads nothing), sends N events as in burst, then resumes the
 *     sink: enqueue_per_s is then the emit path alone and deliveries_per_s (delivered / time
 *     from the resume to the last delivery) the delivery engine draining a backlog of N alone.
 *     Latencies include the pause and mean nothing in this mode. The subscription needs a
 *     timeoutMs longer than the pause, or the attempts waiting on the paused sink time out.
 *
 * First WARMUP events (default 0) are sent as a burst and awaited, unmeasured (connection
 * pools, Redis scripts, allocator). Then the measured events; the tool waits until every event
 * switchboard accepted has been delivered once, or WAIT_S seconds (default 30) after the last
 * 202 (drain: after the resume), and prints one line on stdout:
 *
 *   fanout mode=burst events=N accepted=.. errors=.. expected=.. delivered=.. lost=.. dup=..
 *     elapsed_s=.. deliveries_per_s=.. enqueue_s=.. enqueue_per_s=.. p50_ms=.. p99_ms=..
 *     max_ms=.. emit_p50_ms=.. emit_p99_ms=.. send_lag_max_ms=.. max_gap_ms=.. sink_conns=..
 *     cpu_self=.. [cpu_NAME=..] [emit_cpu_self=.. emit_cpu_NAME=..] complete=0|1
 *
 * elapsed_s runs from the first measured send (drain: the resume) to the last measured delivery;
 * deliveries_per_s is delivered / elapsed_s (burst, rate: the whole pipeline: emit, queue,
 * send). Latencies are arrival at the sink minus "t" (enqueue-to-delivery). emit_* is the 202
 * round trip. max_gap_ms is the longest time without a delivery between the first and the last
 * one (a stall). cpu_* is CPU time over the measured window in percent of one core (-m NAME=PID
 * samples /proc/PID/stat, all threads; cpu_self is this process, sink and generator); in drain
 * mode over the drain alone, and emit_cpu_* over the enqueueing. Deliveries whose t predates this process (retries of an earlier
 * run) or whose index is out of range are ignored; a second delivery of an index counts in dup.
 *
 * -o FILE writes one line per measured event: "index send_ns status arrival_ns" (CLOCK_REALTIME,
 * arrival 0 = never delivered), for timelines.
 *
 * Exit: 0 measured and complete; 1 setup or connection failure; 2 usage; 3 measured but
 *       incomplete (errors, lost deliveries).
 * Build: cc -O2 -pthread -o fanout bench/fanout.c  (bench/run.sh does it in its temp dir)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER  65536
#define MAX_MONITOR 8
#define SINK_RESP   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

/* ---------- small helpers ---------- */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static int64_t real_ns(void) { return clock_ns(CLOCK_REALTIME); }
static int64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void vnote(const char *fmt, va_list ap)
{
	fputs("fanout: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
	exit(1);
}

typedef struct {
	char *p;
	size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p)
		die("out of memory");
	b->cap = cap;
}

static void buf_append(buf_t *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_consume(buf_t *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Reads everything readable into b. Returns 1 data read (or nothing yet), 0 EOF, -1 error. */
static int buf_read_fd(buf_t *b, int fd)
{
	for (;;) {
		buf_reserve(b, 16384);
		ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
		if (n > 0) {
			b->len += (size_t)n;
			if ((size_t)n < 16384)
				return 1; /* most likely drained; level-triggered epoll calls us again */
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		return -1;
	}
}

/* Writes what it can of b from *off. Returns 1 all written, 0 would block, -1 error. */
static int buf_write_fd(buf_t *b, size_t *off, int fd)
{
	while (*off < b->len) {
		ssize_t n = write(fd, b->p + *off, b->len - *off);
		if (n > 0) {
			*off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	b->len = 0;
	*off = 0;
	return 1;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Value of a header (case-insensitive name) in a header block; NULL if absent. *vlen set. */
static const char *header_value(const char *h, size_t hlen, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(h, '\n', hlen); /* skip the first line */
	const char *end = h + hlen;
	while (p && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol < end ? eol : NULL;
	}
	return NULL;
}

/* Content-Length of a header block: >= 0, -1 absent, -2 invalid or chunked. */
static long header_content_length(const char *h, size_t hlen)
{
	size_t vl;
	const char *te = header_value(h, hlen, "transfer-encoding", &vl);
	if (te && vl >= 7 && strncasecmp(te, "chunked", 7) == 0)
		return -2;
	const char *v = header_value(h, hlen, "content-length", &vl);
	if (!v)
		return -1;
	if (vl == 0 || vl > 12)
		return -2;
	long n = 0;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -2;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

/* The number after "key": in a JSON text (first occurrence), as a double. */
static int json_number(const char *s, size_t n, const char *key, double *out)
{
	char pat[32];
	int pl = snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = memmem(s, n, pat, (size_t)pl);
	if (!p)
		return -1;
	p += pl;
	const char *end = s + n;
	while (p < end && *p == ' ')
		p++;
	char tmp[48];
	size_t k = 0;
	while (p < end && k + 1 < sizeof(tmp) && strchr("0123456789+-.eE", *p))
		tmp[k++] = *p++;
	tmp[k] = '\0';
	if (k == 0)
		return -1;
	char *ep;
	errno = 0;
	double d = strtod(tmp, &ep);
	if (errno || *ep)
		return -1;
	*out = d;
	return 0;
}

/* ---------- the sink ---------- */

typedef struct {
	int fd;
	buf_t in, out;
	size_t out_off;
	int want_out;
} sconn_t;

static struct {
	int lfd, ep;
	int stop;              /* atomic */
	int paused;            /* atomic: drain mode, while the backlog is built */
	int64_t t_floor;       /* ignore deliveries sent before this process started */
	size_t total, warm;    /* indices [0, total); [0, warm) are the warm-up */
	int64_t *arrival;      /* CLOCK_REALTIME ns of the first delivery of index i, 0 = none */
	int64_t *lat;          /* arrival - t, ns */
	unsigned long got[2];  /* atomic: unique deliveries, warm-up / measured */
	unsigned long dup, stale, foreign, bad, conns, requests;
} S;

static void sink_close(sconn_t *c)
{
	epoll_ctl(S.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c);
}

static void sink_record(const char *body, size_t n, int64_t now)
{
	double t, i;
	if (json_number(body, n, "t", &t) < 0 || json_number(body, n, "i", &i) < 0) {
		S.bad++;
		return;
	}
	int64_t tn = (int64_t)(t + 0.5);
	if (tn < S.t_floor) {
		S.stale++;
		return;
	}
	if (!(i >= 0) || i >= (double)S.total) {
		S.foreign++;
		return;
	}
	size_t idx = (size_t)i;
	if (S.arrival[idx]) {
		S.dup++;
		return;
	}
	S.arrival[idx] = now;
	S.lat[idx] = now - tn;
	__atomic_fetch_add(&S.got[idx >= S.warm], 1, __ATOMIC_RELEASE);
}

/* Parses every complete request in c->in, queues the answers. -1: not HTTP we can handle. */
static int sink_parse(sconn_t *c, int64_t now)
{
	size_t off = 0;
	for (;;) {
		const char *base = c->in.p + off;
		size_t avail = c->in.len - off;
		const char *e = avail >= 4 ? memmem(base, avail, "\r\n\r\n", 4) : NULL;
		if (!e) {
			if (avail > MAX_HEADER)
				return -1;
			break;
		}
		size_t hlen = (size_t)(e + 4 - base);
		long cl = header_content_length(base, hlen);
		if (cl == -2)
			return -1;
		if (cl < 0)
			cl = 0;
		if (avail < hlen + (size_t)cl)
			break;
		S.requests++;
		sink_record(base + hlen, (size_t)cl, now);
		buf_append(&c->out, SINK_RESP, sizeof(SINK_RESP) - 1);
		off += hlen + (size_t)cl;
	}
	buf_consume(&c->in, off);
	return 0;
}

static int sink_flush(sconn_t *c)
{
	int r = buf_write_fd(&c->out, &c->out_off, c->fd);
	if (r < 0)
		return -1;
	int want = r == 0;
	if (want != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
		epoll_ctl(S.ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	return 0;
}

static void *sink_main(void *arg)
{
	(void)arg;
	struct epoll_event evs[128];
	while (!__atomic_load_n(&S.stop, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&S.paused, __ATOMIC_ACQUIRE)) {
			usleep(1000); /* read nothing: switchboard's requests wait in the socket buffers */
			continue;
		}
		int n = epoll_wait(S.ep, evs, 128, 50);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("sink epoll_wait: %s", strerror(errno));
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.ptr == NULL) { /* the listener */
				for (;;) {
					int fd = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					set_nodelay(fd);
					sconn_t *c = calloc(1, sizeof(*c));
					if (!c)
						die("out of memory");
					c->fd = fd;
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
					if (epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &ev) < 0)
						die("sink epoll_ctl: %s", strerror(errno));
					S.conns++;
				}
				continue;
			}
			sconn_t *c = evs[k].data.ptr;
			if (evs[k].events & EPOLLOUT) {
				if (sink_flush(c) < 0) {
					sink_close(c);
					continue;
				}
			}
			if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				int r = buf_read_fd(&c->in, c->fd);
				int64_t now = real_ns();
				if (r < 0 || sink_parse(c, now) < 0) {
					sink_close(c);
					continue;
				}
				if (c->out.len && sink_flush(c) < 0) {
					sink_close(c);
					continue;
				}
				if (r == 0) {
					sink_close(c);
					continue;
				}
			}
		}
	}
	return NULL;
}

static void sink_start(int port, pthread_t *th)
{
	S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (S.lfd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(S.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("sink: bind 127.0.0.1:%d: %s", port, strerror(errno));
	if (listen(S.lfd, 4096) < 0)
		die("sink: listen: %s", strerror(errno));
	S.ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(S.ep, EPOLL_CTL_ADD, S.lfd, &ev);
	if (pthread_create(th, NULL, sink_main, NULL) != 0)
		die("pthread_create failed");
}

/* ---------- the generator ---------- */

typedef struct {
	int fd;
	int busy;
	size_t idx; /* event in flight */
	buf_t out, in;
	size_t out_off;
	int want_out;
} gconn_t;

static struct {
	int port, ep, nconns;
	const char *key, *event;
	gconn_t *c;
	int *free_stack;
	int nfree;
	size_t total;
	int64_t *send_real;  /* CLOCK_REALTIME ns of the send, per index */
	int64_t *send_mono;
	int64_t *resp_mono;  /* 0 = no answer */
	short *status;       /* HTTP status, 0 = connection error */
	unsigned long accepted[2], errors[2], expected[2], outstanding;
	unsigned long extra_fanout; /* 202 bodies naming other than one delivery */
	int64_t last_resp_mono;
} G;

static void gen_connect(gconn_t *c)
{
	for (int attempt = 0;; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			set_nonblock(fd);
			set_nodelay(fd);
			c->fd = fd;
			c->in.len = c->out.len = c->out_off = 0;
			c->want_out = 0;
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
			if (epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &ev) < 0)
				die("epoll_ctl: %s", strerror(errno));
			return;
		}
		int e = errno;
		close(fd);
		if (attempt >= 20)
			die("connect 127.0.0.1:%d: %s", G.port, strerror(e));
		usleep(50000);
	}
}

static void gen_request_done(gconn_t *c, int status)
{
	size_t i = c->idx;
	int ph = i >= S.warm;
	G.status[i] = (short)status;
	G.resp_mono[i] = mono_ns();
	G.last_resp_mono = G.resp_mono[i];
	if (status == 202)
		G.accepted[ph]++;
	else
		G.errors[ph]++;
	c->busy = 0;
	G.outstanding--;
	G.free_stack[G.nfree++] = (int)(c - G.c);
}

static void gen_reset(gconn_t *c)
{
	epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->busy)
		gen_request_done(c, 0); /* lost with the connection; back on the free list */
	/* (an idle connection is on the free list already) */
	gen_connect(c);
}

static void gen_flush(gconn_t *c)
{
	int r = buf_write_fd(&c->out, &c->out_off, c->fd);
	if (r < 0) {
		gen_reset(c);
		return;
	}
	int want = r == 0;
	if (want != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
		epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
}

static void gen_send(size_t i)
{
	gconn_t *c = &G.c[G.free_stack[--G.nfree]];
	char body[160], head[512];
	int64_t t = real_ns();
	int bl = snprintf(body, sizeof(body), "{\"event\":\"%s\",\"data\":{\"t\":%lld,\"i\":%zu}}", G.event,
	                  (long long)t, i);
	int hl = snprintf(head, sizeof(head),
	                  "POST /api/webhooks/test HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\n"
	                  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n",
	                  G.key, bl);
	buf_append(&c->out, head, (size_t)hl);
	buf_append(&c->out, body, (size_t)bl);
	c->busy = 1;
	c->idx = i;
	G.send_real[i] = t;
	G.send_mono[i] = mono_ns();
	G.outstanding++;
	gen_flush(c);
}

/* Complete responses in c->in. */
static void gen_parse(gconn_t *c)
{
	for (;;) {
		const char *e = c->in.len >= 4 ? memmem(c->in.p, c->in.len, "\r\n\r\n", 4) : NULL;
		if (!e) {
			if (c->in.len > MAX_HEADER)
				die("response header too large");
			return;
		}
		size_t hlen = (size_t)(e + 4 - c->in.p);
		long cl = header_content_length(c->in.p, hlen);
		if (cl == -2)
			die("unsupported response framing (chunked?)");
		if (cl < 0)
			cl = 0;
		if (c->in.len < hlen + (size_t)cl)
			return;
		int status = 0;
		if (hlen > 12 && strncmp(c->in.p, "HTTP/1.", 7) == 0)
			status = atoi(c->in.p + 9);
		if (!c->busy)
			die("response without a request");
		int ph = c->idx >= S.warm;
		if (status == 202) {
			/* one delivery per subscribed URL: count the "url" keys of the answer */
			unsigned long n = 0;
			const char *b = c->in.p + hlen, *be = b + cl;
			for (const char *p = b; (p = memmem(p, (size_t)(be - p), "\"url\":", 6)); p += 6)
				n++;
			G.expected[ph] += n;
			if (n != 1)
				G.extra_fanout++;
		} else if (G.errors[0] + G.errors[1] < 5) {
			note("event %zu: status %d: %.*s", c->idx, status, (int)cl, c->in.p + hlen);
		}
		size_t vl;
		const char *conn = header_value(c->in.p, hlen, "connection", &vl);
		int closing = conn && vl >= 5 && strncasecmp(conn, "close", 5) == 0;
		buf_consume(&c->in, hlen + (size_t)cl);
		gen_request_done(c, status);
		if (closing) {
			gen_reset(c);
			return;
		}
	}
}

static void gen_poll(int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(G.ep, evs, 256, timeout_ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int k = 0; k < n; k++) {
		gconn_t *c = evs[k].data.ptr;
		if (evs[k].events & EPOLLOUT)
			gen_flush(c);
		if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			int r = buf_read_fd(&c->in, c->fd);
			if (r > 0)
				gen_parse(c);
			if (r <= 0) {
				if (c->busy && G.errors[0] + G.errors[1] < 5)
					note("connection closed with event %zu in flight", c->idx);
				gen_reset(c);
			}
		}
	}
}

/* Sends indices [from, to): rate 0 = as fast as the connections allow; then waits for every
 * answer. Returns the largest lateness of a send against its schedule (ns). */
static int64_t gen_run(size_t from, size_t to, double rate)
{
	int64_t start = mono_ns(), lag_max = 0;
	size_t next = from;
	while (next < to || G.outstanding) {
		int64_t now = mono_ns();
		int timeout = 100;
		while (next < to && G.nfree) {
			int64_t due = rate > 0 ? start + (int64_t)((double)(next - from) * 1e9 / rate) : now;
			if (due > now) {
				int64_t ms = (due - now + 999999) / 1000000;
				timeout = ms < 100 ? (int)ms : 100;
				break;
			}
			if (now - due > lag_max)
				lag_max = now - due;
			gen_send(next++);
			timeout = 0;
		}
		if (next < to && !G.nfree)
			timeout = 100; /* every connection busy: wait for an answer */
		gen_poll(timeout);
	}
	return lag_max;
}

/* Waits until the sink has `want` unique deliveries of phase ph, or deadline passes. */
static int wait_delivered(int ph, unsigned long want, double max_s)
{
	int64_t deadline = mono_ns() + (int64_t)(max_s * 1e9);
	while (__atomic_load_n(&S.got[ph], __ATOMIC_ACQUIRE) < want) {
		if (mono_ns() > deadline)
			return -1;
		usleep(2000);
	}
	return 0;
}

/* ---------- CPU of other processes ---------- */

static struct {
	const char *name;
	int pid;
	double t0, tr, t1; /* start, drain: resume, end */
} MON[MAX_MONITOR];
static int nmon;

static double proc_cpu_s(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
	unsigned long ut = 0, st = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ---------- statistics ---------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct_ms(const int64_t *v, size_t n, double p)
{
	if (!n)
		return -1;
	double x = p / 100.0 * (double)n;
	size_t r = (size_t)x;
	if ((double)r < x)
		r++;
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: fanout -p SB_PORT -s SINK_PORT -k API_KEY [-c CONNS] [-w WARMUP] [-W WAIT_S]\n"
	                "              [-e EVENT] [-m NAME=PID]... [-o FILE] burst N | rate R D | drain N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int sink_port = 0, opt;
	const char *dump = NULL;
	long warm = 0;
	double wait_s = 30;
	G.nconns = 32;
	G.event = "dialog_created";
	while ((opt = getopt(argc, argv, "p:s:k:c:w:W:e:m:o:")) != -1) {
		switch (opt) {
		case 'p': G.port = atoi(optarg); break;
		case 's': sink_port = atoi(optarg); break;
		case 'k': G.key = optarg; break;
		case 'c': G.nconns = atoi(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 'W': wait_s = atof(optarg); break;
		case 'e': G.event = optarg; break;
		case 'o': dump = optarg; break;
		case 'm': {
			char *eq = strchr(optarg, '=');
			if (!eq || nmon >= MAX_MONITOR)
				usage();
			*eq = '\0';
			MON[nmon].name = optarg;
			MON[nmon].pid = atoi(eq + 1);
			nmon++;
			break;
		}
		default: usage();
		}
	}
	if (G.port <= 0 || sink_port <= 0 || !G.key || G.nconns < 1 || warm < 0 || wait_s <= 0 || optind >= argc)
		usage();
	const char *mode = argv[optind];
	long n;
	double rate = 0, dur = 0;
	if (strcmp(mode, "burst") == 0 && argc - optind == 2) {
		n = atol(argv[optind + 1]);
	} else if (strcmp(mode, "drain") == 0 && argc - optind == 2) {
		n = atol(argv[optind + 1]);
	} else if (strcmp(mode, "rate") == 0 && argc - optind == 3) {
		rate = atof(argv[optind + 1]);
		dur = atof(argv[optind + 2]);
		if (rate <= 0 || dur <= 0)
			usage();
		n = (long)(rate * dur + 0.5);
	} else {
		usage();
	}
	if (n <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);

	S.t_floor = real_ns();
	S.warm = (size_t)warm;
	S.total = G.total = (size_t)(warm + n);
	S.arrival = calloc(S.total, sizeof(int64_t));
	S.lat = calloc(S.total, sizeof(int64_t));
	G.send_real = calloc(G.total, sizeof(int64_t));
	G.send_mono = calloc(G.total, sizeof(int64_t));
	G.resp_mono = calloc(G.total, sizeof(int64_t));
	G.status = calloc(G.total, sizeof(short));
	G.c = calloc((size_t)G.nconns, sizeof(gconn_t));
	G.free_stack = calloc((size_t)G.nconns, sizeof(int));
	if (!S.arrival || !S.lat || !G.send_real || !G.send_mono || !G.resp_mono || !G.status || !G.c || !G.free_stack)
		die("out of memory");

	pthread_t sink_th;
	sink_start(sink_port, &sink_th);

	G.ep = epoll_create1(EPOLL_CLOEXEC);
	for (int k = 0; k < G.nconns; k++) {
		gen_connect(&G.c[k]);
		G.free_stack[G.nfree++] = k;
	}

	if (warm > 0) {
		note("warm-up: %ld events", warm);
		gen_run(0, (size_t)warm, 0);
		if (G.accepted[0] == 0)
			die("warm-up: no event accepted (%lu errors)", G.errors[0]);
		if (wait_delivered(0, G.expected[0], 30) < 0)
			note("warm-up: only %lu of %lu deliveries arrived within 30 s", __atomic_load_n(&S.got[0], __ATOMIC_ACQUIRE),
			     G.expected[0]);
	}

	int drain_mode = strcmp(mode, "drain") == 0;
	note("measuring: %s %ld events%s", mode, n,
	     rate > 0 ? " on a fixed schedule" : drain_mode ? " (sink paused until every 202)" : "");
	if (drain_mode)
		__atomic_store_n(&S.paused, 1, __ATOMIC_RELEASE);
	for (int m = 0; m < nmon; m++)
		MON[m].t0 = proc_cpu_s(MON[m].pid);
	double self0 = self_cpu_s();
	int64_t w0 = mono_ns();
	int64_t lag = gen_run((size_t)warm, G.total, rate);
	int64_t resume = 0, wr = 0;
	double self_r = 0;
	if (drain_mode) {
		resume = real_ns();
		wr = mono_ns();
		self_r = self_cpu_s();
		for (int m = 0; m < nmon; m++)
			MON[m].tr = proc_cpu_s(MON[m].pid);
		__atomic_store_n(&S.paused, 0, __ATOMIC_RELEASE);
	}
	int complete = wait_delivered(1, G.expected[1], wait_s) == 0;
	int64_t w1 = mono_ns();
	double self1 = self_cpu_s();
	for (int m = 0; m < nmon; m++)
		MON[m].t1 = proc_cpu_s(MON[m].pid);
	if (!complete)
		note("only %lu of %lu deliveries arrived within %.0f s of the last 202 (drain: of the resume)",
		     __atomic_load_n(&S.got[1], __ATOMIC_ACQUIRE), G.expected[1], wait_s);

	__atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
	pthread_join(sink_th, NULL);

	if (dump) {
		FILE *f = fopen(dump, "w");
		if (!f)
			die("%s: %s", dump, strerror(errno));
		for (size_t i = (size_t)warm; i < G.total; i++)
			fprintf(f, "%zu %lld %d %lld\n", i, (long long)G.send_real[i], G.status[i], (long long)S.arrival[i]);
		fclose(f);
	}

	/* statistics over the measured indices */
	size_t from = (size_t)warm, cnt = 0, ecnt = 0;
	int64_t *lat = malloc(((size_t)n) * sizeof(int64_t)), *emit = malloc(((size_t)n) * sizeof(int64_t));
	if (!lat || !emit)
		die("out of memory");
	int64_t first_send = INT64_MAX, last_arrival = 0, first_send_mono = INT64_MAX, last_resp_mono = 0;
	for (size_t i = from; i < G.total; i++) {
		if (G.send_real[i] && G.send_real[i] < first_send)
			first_send = G.send_real[i];
		if (G.send_mono[i] && G.send_mono[i] < first_send_mono)
			first_send_mono = G.send_mono[i];
		if (G.resp_mono[i] > last_resp_mono)
			last_resp_mono = G.resp_mono[i];
		if (G.status[i] == 202)
			emit[ecnt++] = G.resp_mono[i] - G.send_mono[i];
		if (S.arrival[i]) {
			lat[cnt++] = S.lat[i];
			if (S.arrival[i] > last_arrival)
				last_arrival = S.arrival[i];
		}
	}
	/* the longest time without a delivery, between the first and the last one */
	int64_t *arr = malloc((cnt ? cnt : 1) * sizeof(int64_t)), max_gap = 0;
	if (!arr)
		die("out of memory");
	size_t na = 0;
	for (size_t i = from; i < G.total; i++)
		if (S.arrival[i])
			arr[na++] = S.arrival[i];
	qsort(arr, na, sizeof(int64_t), cmp_i64);
	for (size_t k = 1; k < na; k++)
		if (arr[k] - arr[k - 1] > max_gap)
			max_gap = arr[k] - arr[k - 1];
	qsort(lat, cnt, sizeof(int64_t), cmp_i64);
	qsort(emit, ecnt, sizeof(int64_t), cmp_i64);
	double elapsed = cnt ? (double)(last_arrival - (drain_mode ? resume : first_send)) / 1e9 : 0;
	double enq = ecnt ? (double)(last_resp_mono - first_send_mono) / 1e9 : 0;
	/* CPU over the measured window; drain: over the drain alone (emit_cpu_*: the enqueueing) */
	double window = (double)(w1 - (drain_mode ? wr : w0)) / 1e9;
	unsigned long lost = G.expected[1] > cnt ? G.expected[1] - cnt : 0;

	printf("fanout mode=%s events=%ld rate=%.0f conns=%d accepted=%lu errors=%lu expected=%lu delivered=%zu "
	       "lost=%lu dup=%lu stale=%lu foreign=%lu bad=%lu fanout_mismatch=%lu elapsed_s=%.3f "
	       "deliveries_per_s=%.1f enqueue_s=%.3f enqueue_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "emit_p50_ms=%.3f emit_p99_ms=%.3f send_lag_max_ms=%.3f max_gap_ms=%.3f sink_conns=%lu "
	       "sink_requests=%lu window_s=%.3f cpu_self=%.0f",
	       mode, n, rate, G.nconns, G.accepted[1], G.errors[1], G.expected[1], cnt, lost, S.dup, S.stale,
	       S.foreign, S.bad, G.extra_fanout, elapsed, elapsed > 0 ? (double)cnt / elapsed : 0, enq,
	       enq > 0 ? (double)ecnt / enq : 0, pct_ms(lat, cnt, 50), pct_ms(lat, cnt, 99),
	       cnt ? (double)lat[cnt - 1] / 1e6 : -1, pct_ms(emit, ecnt, 50), pct_ms(emit, ecnt, 99), (double)lag / 1e6,
	       (double)max_gap / 1e6, S.conns, S.requests, window,
	       window > 0 ? 100.0 * (self1 - (drain_mode ? self_r : self0)) / window : 0);
	for (int m = 0; m < nmon; m++) {
		double from_s = drain_mode ? MON[m].tr : MON[m].t0;
		double d = from_s >= 0 && MON[m].t1 >= 0 ? MON[m].t1 - from_s : -1;
		printf(" cpu_%s=%.0f", MON[m].name, d >= 0 && window > 0 ? 100.0 * d / window : -1);
	}
	if (drain_mode) {
		double ew = (double)(wr - w0) / 1e9;
		printf(" emit_cpu_self=%.0f", ew > 0 ? 100.0 * (self_r - self0) / ew : -1);
		for (int m = 0; m < nmon; m++) {
			double d = MON[m].t0 >= 0 && MON[m].tr >= 0 ? MON[m].tr - MON[m].t0 : -1;
			printf(" emit_cpu_%s=%.0f", MON[m].name, d >= 0 && ew > 0 ? 100.0 * d / ew : -1);
		}
	}
	int ok = complete && G.errors[1] == 0 && lost == 0;
	printf(" complete=%d\n", ok);
	fflush(stdout);
	return ok ? 0 : 3;
}
