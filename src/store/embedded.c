/* The embedded Redis: with no --redis URL, switchboard runs a private redis-server child on a
 * unix socket in --data-dir, with AOF on, and stops it on exit. The child gets PDEATHSIG so a
 * killed switchboard never leaves an orphan holding the data dir. Main thread only. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "switchboard/log.h"
#include "switchboard/store.h"

static int mkdir_p(const char *path)
{
    char tmp[512];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int sb_embedded_redis_start(sb_embedded_redis_t *er, const char *data_dir, char *err, size_t errlen)
{
    memset(er, 0, sizeof(*er));
    char dir[512];
    if (mkdir_p(data_dir) < 0 || !realpath(data_dir, dir)) {
        snprintf(err, errlen, "--data-dir: cannot create or resolve '%s': %s", data_dir, strerror(errno));
        return -EINVAL;
    }
    /* sun_path holds 108 bytes */
    if (snprintf(er->socket_path, sizeof(er->socket_path), "%s/redis.sock", dir) >= 100) {
        snprintf(err, errlen, "--data-dir: '%s' is too long for a unix socket path", dir);
        return -ENAMETOOLONG;
    }
    char logfile[600];
    snprintf(logfile, sizeof(logfile), "%s/redis.log", dir);
    unlink(er->socket_path);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork redis-server: %s", strerror(errno));
        return -errno;
    }
    if (pid == 0) {
        /* exec keeps the signal mask and ignored signals: give redis-server a clean slate, or
         * it would never see the SIGTERM that stops it. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", er->socket_path, "--unixsocketperm",
               "700", "--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize",
               "no", "--logfile", logfile, (char *)NULL);
        fprintf(stderr, "switchboard: cannot run redis-server: %s (install Debian's redis-server or pass --redis)\n",
                strerror(errno));
        _exit(127);
    }
    er->pid = pid;
    /* Wait until it answers PING: AOF replay of a big data set can take a while. */
    for (int i = 0; i < 600; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            er->pid = 0;
            snprintf(err, errlen, "embedded redis-server exited at start (see %s)", logfile);
            return -ECHILD;
        }
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectUnixWithTimeout(er->socket_path, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok) {
                sb_log(SB_LOG_INFO, "embedded redis started", "\"pid\":%d", (int)pid);
                return 0;
            }
        } else if (c) {
            redisFree(c);
        }
        sleep_ms(100);
    }
    sb_embedded_redis_stop(er);
    snprintf(err, errlen, "embedded redis-server did not answer within 60 s (see %s)", logfile);
    return -ETIMEDOUT;
}

void sb_embedded_redis_stop(sb_embedded_redis_t *er)
{
    if (er->pid <= 0)
        return;
    kill(er->pid, SIGTERM); /* redis fsyncs the AOF on SIGTERM */
    for (int i = 0; i < 300; i++) {
        int status;
        if (waitpid(er->pid, &status, WNOHANG) == er->pid) {
            er->pid = 0;
            sb_log(SB_LOG_INFO, "embedded redis stopped", NULL);
            return;
        }
        sleep_ms(50);
    }
    kill(er->pid, SIGKILL);
    waitpid(er->pid, NULL, 0);
    er->pid = 0;
}
