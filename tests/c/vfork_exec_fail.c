/* A child whose exec fails reports it and exits at once, as Python's subprocess does it:
 * vfork, execve in the child, the errno written to a close-on-exec pipe, every other
 * descriptor closed up to the descriptor limit (Python 2's close_fds, many daemons), then
 * _exit. The parent reads the errno (EOF when the exec worked: the pipe closed with it)
 * and reaps the child.
 *
 * Closing numbers that are not open must be cheap: under linuxrun each such close() was a
 * hypercall, and a child closing up to a limit of 2^20 took most of a minute. How cheap it
 * is now is measured by scripts/bench (close_unopened, vfork_exec_fail), not here: a test
 * does not assert timings. */
#include "common.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

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
    return finish();
}
