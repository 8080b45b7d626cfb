/* bench/idle_conns.c — open N served HTTP/1.1 keep-alive connections and hold them idle.
 *
 *   idle_conns HOST PORT N HOLD_SECONDS [PATH]
 *
 * Each connection sends one "GET PATH HTTP/1.1" (default /healthz) and reads the whole response,
 * so the server has accepted, parsed and answered on it and now keeps it as an idle keep-alive
 * connection (not a half-open socket in its accept queue). When all N are established it prints
 * a line starting with "established" (bench/run.sh waits for it and then reads the server's
 * VmRSS), holds them for HOLD_SECONDS, then counts the connections the server closed meanwhile.
 *
 * RLIMIT_NOFILE is raised to N + 32 (the hard limit is raised too when privileges allow).
 *
 * Exit: 0 all N held to the end; 1 a connection or request failed; 2 usage or fd limit;
 *       3 the server closed some connections during the hold.
 * Build: cc -O2 -o idle_conns bench/idle_conns.c  (bench/run.sh does it in its temp dir)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RESP_CAP 16384

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int raise_nofile(long n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 32;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max < want) {
		struct rlimit hi = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &hi) == 0)
			return 0;
		fprintf(stderr,
		        "idle_conns: need %lu file descriptors, hard limit is %lu "
		        "(raise it: ulimit -Hn, LimitNOFILE, or run with CAP_SYS_RESOURCE)\n",
		        (unsigned long)want, (unsigned long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads one complete response. Returns the status code, or -1 (errno set, or EPROTO). */
static int read_response(int fd, char *buf)
{
	size_t len = 0, hdr_len = 0;
	long content_length = -1;
	int chunked = 0, closes = 0, status = -1;

	for (;;) {
		if (hdr_len == 0) {
			char *end;
			buf[len] = '\0';
			end = strstr(buf, "\r\n\r\n");
			if (end) {
				char *cl, *te;
				hdr_len = (size_t)(end - buf) + 4;
				end[2] = '\0'; /* headers only, for the searches below */
				if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
					errno = EPROTO;
					return -1;
				}
				cl = strcasestr(buf, "\r\ncontent-length:");
				if (cl)
					content_length = strtol(cl + 17, NULL, 10);
				te = strcasestr(buf, "\r\ntransfer-encoding:");
				if (te && strcasestr(te, "chunked"))
					chunked = 1;
				if (strcasestr(buf, "\r\nconnection: close"))
					closes = 1;
				end[2] = '\r';
				if (closes) {
					fprintf(stderr, "idle_conns: server answered with Connection: close\n");
					errno = ECONNRESET;
					return -1;
				}
				if (!chunked && content_length < 0)
					content_length = 0; /* 204/304 or a bodiless answer */
			}
		}
		if (hdr_len) {
			size_t body = len - hdr_len;
			if (chunked) {
				if (body >= 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0)
					return status;
			} else if ((long)body >= content_length) {
				return status;
			}
		}
		if (len >= RESP_CAP - 1) {
			errno = EMSGSIZE;
			return -1;
		}
		ssize_t r = recv(fd, buf + len, RESP_CAP - 1 - len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		len += (size_t)r;
	}
}

int main(int argc, char **argv)
{
	const char *host, *path = "/healthz";
	int port;
	long n, hold, i;
	struct sockaddr_in sa;
	char req[512], buf[RESP_CAP];
	int *fds;
	int reqlen;
	double t0;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: %s HOST PORT N HOLD_SECONDS [PATH]\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	n = strtol(argv[3], NULL, 10);
	hold = strtol(argv[4], NULL, 10);
	if (argc == 6)
		path = argv[5];
	if (port <= 0 || port > 65535 || n <= 0 || hold < 0) {
		fprintf(stderr, "idle_conns: bad arguments\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "idle_conns: HOST must be an IPv4 address: %s\n", host);
		return 2;
	}
	if (raise_nofile(n) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);

	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	if (reqlen <= 0 || (size_t)reqlen >= sizeof(req)) {
		fprintf(stderr, "idle_conns: PATH too long\n");
		return 2;
	}
	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds) {
		perror("idle_conns: calloc");
		return 1;
	}

	t0 = now_s();
	for (i = 0; i < n; i++) {
		struct timeval tv = { 10, 0 };
		int one = 1, status;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "idle_conns: socket #%ld: %s\n", i + 1, strerror(errno));
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			fprintf(stderr, "idle_conns: connect #%ld: %s\n", i + 1, strerror(errno));
			return 1;
		}
		if (write_all(fd, req, (size_t)reqlen) != 0) {
			fprintf(stderr, "idle_conns: send #%ld: %s\n", i + 1, strerror(errno));
			return 1;
		}
		status = read_response(fd, buf);
		if (status < 0) {
			fprintf(stderr, "idle_conns: response #%ld: %s\n", i + 1, strerror(errno));
			return 1;
		}
		if (status != 200) {
			fprintf(stderr, "idle_conns: response #%ld: HTTP status %d\n", i + 1, status);
			return 1;
		}
		fds[i] = fd;
	}
	printf("established %ld keep-alive connections to %s:%d (200 on each) in %.2f s; holding %ld s\n",
	       n, host, port, now_s() - t0, hold);
	fflush(stdout);

	if (hold > 0) {
		struct timespec ts = { hold, 0 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}

	/* Which connections did the server close (or write to) while they were idle? */
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	long closed = 0, chatty = 0;
	if (!pfd) {
		perror("idle_conns: calloc");
		return 1;
	}
	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN | POLLRDHUP;
	}
	if (poll(pfd, (nfds_t)n, 0) < 0) {
		perror("idle_conns: poll");
		return 1;
	}
	for (i = 0; i < n; i++) {
		char c;
		if (!pfd[i].revents)
			continue;
		ssize_t r = recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (r > 0)
			chatty++;
		else
			closed++;
	}
	printf("held %ld connections for %ld s; closed by the server: %ld; unexpected data: %ld\n",
	       n - closed, hold, closed, chatty);
	fflush(stdout);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(pfd);
	free(fds);
	return closed ? 3 : 0;
}
