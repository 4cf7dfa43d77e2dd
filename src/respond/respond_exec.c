/* SPDX-License-Identifier: Apache-2.0 */
/*
 * respond: running a program for Keysentry::Response::Exec.
 *
 * Never a shell: argv goes to execve as given, argv[0] is an absolute path.
 * The message goes to the program's stdin through a socketpair (so a program
 * that exits without reading cannot raise SIGPIPE in keysentry: send() with
 * MSG_NOSIGNAL), stdout and stderr come back through one pipe and are kept up
 * to RESPOND_MAX_EXEC_OUTPUT bytes (the rest is read and dropped so the
 * program never blocks on a full pipe). The program runs in a process group
 * of its own; at the deadline the group gets SIGTERM, one second later
 * SIGKILL. Between fork and execve the child calls only async-signal-safe
 * functions, so this is safe from any thread.
 */
#include "respond/respond_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

void respond_exec_result_init(struct respond_exec_result *r)
{
    r->exit_code = -1;
    r->signal = 0;
    r->timed_out = false;
    ks_buf_init(&r->output, RESPOND_MAX_EXEC_OUTPUT);
}

void respond_exec_result_release(struct respond_exec_result *r)
{
    ks_buf_release(&r->output);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* In the child: close every descriptor above 2 (async-signal-safe). */
static void close_others(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < (int)max; fd++)
        close(fd);
}

enum ks_err respond_exec_run(char *const argv[], char *const envp[], const char *input, size_t len,
                             uint32_t timeout_ms, struct respond_exec_result *out,
                             struct ks_diag *diag)
{
    if (!argv || !argv[0] || argv[0][0] != '/')
        return ks_diag_set(diag, KS_E_INVALID, SIZE_MAX, "program must be given by absolute path");
    if (len > RESPOND_MAX_EXEC_INPUT)
        return ks_diag_set(diag, KS_E_LIMIT, SIZE_MAX, "message of %zu bytes is over %u", len,
                           RESPOND_MAX_EXEC_INPUT);
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
        pipe2(outp, O_CLOEXEC) != 0) {
        int err = errno;
        close_fd(&in[0]), close_fd(&in[1]), close_fd(&outp[0]), close_fd(&outp[1]);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot create pipes: %s", strerror(err));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close_fd(&in[0]), close_fd(&in[1]), close_fd(&outp[0]), close_fd(&outp[1]);
        return ks_diag_set(diag, KS_E_IO, SIZE_MAX, "cannot fork: %s", strerror(err));
    }
    if (pid == 0) {
        /* child: async-signal-safe calls only */
        setpgid(0, 0);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            sigaction(s, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(in[1], 0) < 0 || dup2(outp[1], 1) < 0 || dup2(outp[1], 2) < 0)
            _exit(127);
        close_others();
        execve(argv[0], argv, envp);
        _exit(127); /* as shells report "command not found" */
    }
    close_fd(&in[1]);
    close_fd(&outp[1]);
    setpgid(pid, pid); /* also from the parent: no race with the kill below */

    int64_t deadline = mono_ms() + timeout_ms, kill_at = INT64_MAX;
    size_t sent = 0;
    if (len == 0)
        close_fd(&in[0]);
    else
        fcntl(in[0], F_SETFL, fcntl(in[0], F_GETFL) | O_NONBLOCK);
    int status = 0;
    bool reaped = false, out_open = true;
    char buf[4096];
    while (!reaped) {
        int64_t now = mono_ms();
        if (!out->timed_out && now >= deadline) {
            out->timed_out = true;
            kill(-pid, SIGTERM);
            kill_at = now + 1000;
            close_fd(&in[0]);
        }
        if (out->timed_out && now >= kill_at) {
            kill(-pid, SIGKILL);
            kill_at = INT64_MAX;
        }
        if (!out_open) {
            /* output closed: wait for the exit, bounded by the deadlines */
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                reaped = true;
                break;
            }
            if (w < 0 && errno != EINTR)
                break;
        }
        struct pollfd fds[2];
        nfds_t nf = 0;
        if (out_open)
            fds[nf++] = (struct pollfd){.fd = outp[0], .events = POLLIN};
        if (in[0] >= 0)
            fds[nf++] = (struct pollfd){.fd = in[0], .events = POLLOUT};
        int64_t until = out->timed_out ? kill_at : deadline;
        int64_t wait = until == INT64_MAX ? 50 : until - mono_ms();
        if (wait < 0)
            wait = 0;
        if (!out_open && wait > 20)
            wait = 20; /* polling waitpid */
        if (nf == 0) {
            struct timespec ts = {0, (long)wait * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        int pr = poll(fds, nf, (int)wait);
        if (pr < 0 && errno != EINTR)
            break;
        for (nfds_t i = 0; pr > 0 && i < nf; i++) {
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == outp[0]) {
                ssize_t got = read(outp[0], buf, sizeof(buf));
                if (got > 0) {
                    size_t room = RESPOND_MAX_EXEC_OUTPUT - out->output.len;
                    size_t keep = (size_t)got < room ? (size_t)got : room;
                    if (keep && ks_buf_add(&out->output, buf, keep)) {
                        /* at the cap: drop the rest */
                    }
                } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                    out_open = false;
                    close_fd(&outp[0]);
                }
            } else if (fds[i].fd == in[0]) {
                if (fds[i].revents & (POLLERR | POLLHUP)) {
                    close_fd(&in[0]); /* the program stopped reading */
                    continue;
                }
                ssize_t w = send(in[0], input + sent, len - sent, MSG_NOSIGNAL);
                if (w > 0) {
                    sent += (size_t)w;
                    if (sent == len)
                        close_fd(&in[0]);
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    close_fd(&in[0]);
                }
            }
        }
    }
    if (!reaped) {
        /* poll failed: make sure nothing is left behind */
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    close_fd(&in[0]);
    close_fd(&outp[0]);
    if (WIFEXITED(status)) {
        out->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        out->exit_code = -1;
        out->signal = WTERMSIG(status);
    }
    return KS_OK;
}
