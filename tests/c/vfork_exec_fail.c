/* A child whose exec fails reports it and exits at once, as Python's subprocess does it:
 * vfork, execve in the child, the errno written to a close-on-exec pipe, every other
 * descriptor closed up to the descriptor limit (Python 2's close_fds, many daemons), then
 * _exit. The parent reads the errno (EOF when the exec worked: the pipe closed with it)
 * and reaps the child.
 *
 * Closing numbers that are not open must cost what any cheap syscall costs: under
 * linuxrun each such close() was a hypercall (tens of microseconds with busy cores), and
 * a child closing up to a limit of 2^20 took most of a minute. Checked as a ratio against
 * getppid() measured in the same run (the best of several rounds), so that the check
 * holds on slow and fast machines alike. */
#include "common.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run prog in a vfork child the way subprocess does; returns the errno the child
 * reported (0: none, the exec worked) and stores its exit status. */
static int spawn(const char *prog, long close_up_to, int *status)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = vfork();
    if (pid == 0) {
        char *argv[] = {(char *)prog, NULL};
        char *envp[] = {NULL};
        execve(prog, argv, envp);
        int e = errno;
        /* Raw syscalls: a vfork child must not touch libc state. */
        syscall(SYS_write, p[1], &e, sizeof e);
        for (long fd = 3; fd < close_up_to; fd++)
            if (fd != p[1])
                syscall(SYS_close, (int)fd);
        syscall(SYS_exit_group, 127);
    }
    close(p[1]);
    int e = 0;
    ssize_t n = read(p[0], &e, sizeof e);
    close(p[0]);
    waitpid(pid, status, 0);
    return n == sizeof e ? e : 0;
}

/* Best per-call time of `n` calls over 5 rounds. */
static double best_per_call(int use_close, long n)
{
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double t = now();
        for (long i = 0; i < n; i++) {
            if (use_close)
                syscall(SYS_close, (int)(100000 + i % 1000));
            else
                syscall(SYS_getppid);
        }
        double per = (now() - t) / n;
        if (per < best)
            best = per;
    }
    return best;
}

int main(void)
{
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    /* Up to the limit, but not past 2^16: the suite also runs under emulation (classic). */
    long limit = (long)lim.rlim_cur;
    if (limit > (1 << 16))
        limit = 1 << 16;

    int status = 0;
    int e = spawn("/nonexistent/program", limit, &status);
    checkf("missing_program", e == ENOENT, "%s", errname(e));
    checkf("missing_program_status", WIFEXITED(status) && WEXITSTATUS(status) == 127, "%d", WEXITSTATUS(status));
    e = spawn("/etc/passwd", limit, &status);
    checkf("not_executable", e == EACCES, "%s", errname(e));
    e = spawn("/bin/true", limit, &status);
    checkf("exec_worked_pipe_closed", e == 0, "%s", errname(e));
    checkf("exec_worked_status", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d", WEXITSTATUS(status));

    /* Descriptors far above anything open: 100000..100999. */
    errno = 0;
    check("close_unopened_is_ebadf", syscall(SYS_close, 100000) == -1 && errno == EBADF);
    double getppid_cost = best_per_call(0, 20000);
    double close_cost = best_per_call(1, 20000);
    double ratio = close_cost / getppid_cost;
    check("close_of_unopened_costs_a_plain_syscall", ratio < 4);
    if (ratio >= 4)
        fprintf(stderr, "close %.2f us, getppid %.2f us per call\n", close_cost * 1e6, getppid_cost * 1e6);
    return finish();
}
