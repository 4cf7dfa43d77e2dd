/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exec and file sinks.
 *
 * exec runs the subscription's Command (an argv array from the template,
 * program given by absolute path) with fork + execve: never a shell, never a
 * PATH search (glibc's execvp would hand a #!-less file to /bin/sh). The
 * child gets the message JSON on stdin, a small fixed environment, its own
 * process group (so a timeout kills what it started too) and no other file
 * descriptor of ours. Between fork and execve only async-signal-safe calls
 * run: this process has other threads.
 *
 * file appends one NDJSON line per delivery with a single write() on an
 * O_APPEND descriptor, then fdatasync (unless Fsync: false), so a line that
 * was reported delivered is on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "notify/notify_int.h"

/* Exit status meaning "try again later" (sysexits.h EX_TEMPFAIL). */
#define EXIT_TEMPFAIL 75

static void child(const struct notify_sub *sub, int in, int out, char *const *envp, long maxfd)
{
    /* async-signal-safe from here on */
    setpgid(0, 0);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(126);
    /* every other descriptor (the pipes were made O_CLOEXEC, but other
     * threads' descriptors might not be) */
    if (close_range(3, ~0u, 0) != 0)
        for (long fd = 3; fd < maxfd; fd++)
            close((int)fd);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(sub->argv[0], sub->argv, envp);
    _exit(127);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void notify_exec_run(const struct notify_sub *sub, const char *input, char *const *envp,
                     struct notify_attempt *res)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        notify_attempt_fail(res, NOTIFY_RETRY, "cannot create pipes: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (out[i] >= 0)
                close(out[i]);
        }
        return;
    }
    /* a command that exits without reading stdin must not kill us with
     * SIGPIPE: block it on this thread and drop what it raised */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigset_t pending_before;
    sigpending(&pending_before);

    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 1048576)
        maxfd = 1048576;
    pid_t pid = fork();
    if (pid == 0)
        child(sub, in[0], out[1], envp, maxfd);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        notify_attempt_fail(res, NOTIFY_RETRY, "cannot fork: %s", strerror(errno));
        close(in[1]);
        close(out[0]);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return;
    }
    setpgid(pid, pid); /* also from here: no race with the child's own call */
    set_nonblock(in[1]);
    set_nonblock(out[0]);
    int64_t timeout = sub->timeout_ms ? sub->timeout_ms : NOTIFY_DEFAULT_EXEC_MS;
    int64_t deadline = notify_mono_ms() + timeout;
    size_t in_len = strlen(input), in_off = 0;
    char outbuf[NOTIFY_EXEC_OUTPUT_MAX + 1];
    size_t out_len = 0;
    bool in_open = true, out_open = true, timed_out = false;
    int status = 0;
    bool reaped = false;
    while (out_open || in_open) {
        int64_t left = deadline - notify_mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p[2];
        nfds_t n = 0;
        if (in_open)
            p[n++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
        if (out_open)
            p[n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
        int r = poll(p, n, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR)
            break;
        for (nfds_t i = 0; i < n && r > 0; i++) {
            if (!p[i].revents)
                continue;
            if (p[i].fd == in[1]) {
                ssize_t w = write(in[1], input + in_off, in_len - in_off);
                if (w > 0)
                    in_off += (size_t)w;
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len ||
                    (p[i].revents & (POLLERR | POLLHUP))) {
                    close(in[1]);
                    in_open = false;
                }
            } else {
                char tmp[4096];
                ssize_t got = read(out[0], tmp, sizeof(tmp));
                if (got > 0) {
                    size_t keep = NOTIFY_EXEC_OUTPUT_MAX - out_len;
                    if (keep > (size_t)got)
                        keep = (size_t)got;
                    memcpy(outbuf + out_len, tmp, keep);
                    out_len += keep;
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(out[0]);
                    out_open = false;
                }
            }
        }
    }
    if (in_open)
        close(in[1]);
    if (out_open)
        close(out[0]);
    /* output closed: the command is ending; wait for it within the deadline */
    while (!timed_out && !reaped) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            reaped = true;
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
        if (notify_mono_ms() >= deadline) {
            timed_out = true;
            break;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!reaped) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    /* drop a SIGPIPE we caused, then restore the thread's mask */
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&pending_before, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    outbuf[out_len] = '\0';
    for (size_t i = 0; i < out_len; i++)
        if ((unsigned char)outbuf[i] < 0x20 || outbuf[i] == 0x7f)
            outbuf[i] = ' ';
    if (timed_out) {
        notify_attempt_fail(res, NOTIFY_RETRY, "%s timed out after %lld ms (killed)", sub->argv[0],
                            (long long)timeout);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        res->res = NOTIFY_OK;
    } else if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        res->status = code;
        notify_attempt_fail(
            res,
            code == EXIT_TEMPFAIL || code == 126 || code == 127 ? NOTIFY_RETRY : NOTIFY_PERMANENT,
            "%s exited with status %d%s%.300s", sub->argv[0], code, out_len ? ": " : "", outbuf);
    } else {
        notify_attempt_fail(res, NOTIFY_RETRY, "%s killed by signal %d", sub->argv[0],
                            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
}

void notify_file_append(const struct notify_sub *sub, const char *path, const char *line,
                        struct notify_attempt *res)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        bool perm =
            err == EACCES || err == EISDIR || err == ENOTDIR || err == ELOOP || err == EROFS;
        notify_attempt_fail(res, perm ? NOTIFY_PERMANENT : NOTIFY_RETRY, "cannot open %s: %s", path,
                            strerror(err));
        return;
    }
    size_t n = strlen(line);
    char *buf = ks_xmalloc(n + 1);
    memcpy(buf, line, n);
    buf[n] = '\n';
    size_t off = 0;
    int err = 0;
    while (off < n + 1) {
        ssize_t w = write(fd, buf + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = errno ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    free(buf);
    if (!err && sub->fsync && fdatasync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (err)
        notify_attempt_fail(res, NOTIFY_RETRY, "cannot append to %s: %s", path, strerror(err));
    else
        res->res = NOTIFY_OK;
}
