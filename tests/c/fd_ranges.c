/* close_range (plain, CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE, errors, ranges reaching far
 * past the open descriptors) and dup2/dup3 onto 0, 1 and 2, as a shell's redirections do.
 * Descriptor numbers are deterministic: each test starts from the same table. */
#include "common.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int sys_close_range(unsigned first, unsigned last, unsigned flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Which of fds 3..12 are open, as a string of 0/1. */
static const char *open_map(void)
{
    static char map[11];
    for (int fd = 3; fd < 13; fd++)
        map[fd - 3] = is_open(fd) ? '1' : '0';
    map[10] = 0;
    return map;
}

static void open_ten(void)
{
    for (int fd = 3; fd < 13; fd++)
        if (!is_open(fd) && open("/dev/null", O_RDONLY) != fd)
            printf("open_ten: unexpected fd\n");
}

static void close_range_cases(void)
{
    open_ten();
    checkf("all_open", 1, "%s", open_map());
    expect_ok("close_5_7", sys_close_range(5, 7, 0));
    checkf("after_5_7", 1, "%s", open_map());
    expect_ok("close_one", sys_close_range(3, 3, 0));
    checkf("after_3", 1, "%s", open_map());
    expect_err("first_after_last", sys_close_range(9, 8, 0), EINVAL);
    expect_err("unknown_flag", sys_close_range(3, 4, 1), EINVAL);
    expect_err("unknown_flag_high", sys_close_range(3, 4, 1U << 8), EINVAL);
    checkf("errors_closed_nothing", 1, "%s", open_map());
    expect_ok("already_closed_range", sys_close_range(5, 7, 0));

    expect_ok("cloexec", sys_close_range(8, 10, CLOSE_RANGE_CLOEXEC));
    checkf("cloexec_flags", 1, "%d%d%d%d", fcntl(8, F_GETFD), fcntl(9, F_GETFD), fcntl(10, F_GETFD), fcntl(11, F_GETFD));
    checkf("cloexec_still_open", 1, "%s", open_map());
    expect_ok("unshare", sys_close_range(12, 12, CLOSE_RANGE_UNSHARE));
    checkf("after_unshare", 1, "%s", open_map());

    /* An exec'd child sees the descriptors without close-on-exec only. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "for fd in 4 8 9; do (: <&$fd) 2>/dev/null && echo open $fd || echo closed $fd; done", (char *)0);
        _exit(127);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    fflush(stdout);

    /* To the end of the table, as daemons and shells do before exec. */
    expect_ok("to_uint_max", sys_close_range(3, ~0U, 0));
    checkf("none_left", 1, "%s", open_map());
    check("stdio_kept", is_open(0) && is_open(1) && is_open(2));
    /* The library function, which glibc has since 2.34. */
    open_ten();
    expect_ok("libc_close_range", close_range(4, ~0U, 0));
    checkf("libc_left", 1, "%s", open_map());
    close(3);
}

static void dup_onto_stdio(void)
{
    fflush(stdout);
    int saved_out = dup(1);
    int saved_in = dup(0);
    int p[2];
    if (pipe(p) != 0)
        return;
    /* stdout into a pipe with dup2, read it back. */
    int onto = dup2(p[1], 1);
    printf("through the pipe\n");
    fflush(stdout);
    dup2(saved_out, 1);
    check("dup2_onto_1", onto == 1);
    char buf[64] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    checkf("read_back", n == 17, "%ld %.16s", (long)n, buf);
    /* stdin from a pipe with dup3 and O_CLOEXEC. */
    check("dup3_onto_0", dup3(p[0], 0, O_CLOEXEC) == 0);
    checkf("dup3_cloexec", 1, "%d", fcntl(0, F_GETFD));
    if (write(p[1], "in\n", 3) != 3)
        printf("write failed\n");
    char in[8] = {0};
    checkf("read_stdin", read(0, in, sizeof in - 1) == 3, "%.2s", in);
    expect_err("dup3_same", dup3(0, 0, 0), EINVAL);
    expect_err("dup3_bad_flags", dup3(p[0], 0, O_NONBLOCK), EINVAL);
    check("dup2_same", dup2(0, 0) == 0);
    /* stderr onto stdout: what 2>&1 does. */
    int saved_err = dup(2);
    fflush(stdout);
    check("dup2_onto_2", dup2(1, 2) == 2);
    fprintf(stderr, "stderr now goes to stdout\n");
    fflush(stderr);
    dup2(saved_err, 2);
    dup2(saved_in, 0);
    checkf("stdin_restored_cloexec", 1, "%d", fcntl(0, F_GETFD));
    expect_err("dup2_bad_old", dup2(100, 1), EBADF);
    close(saved_out);
    close(saved_in);
    close(saved_err);
    close(p[0]);
    close(p[1]);
    /* A child whose stdout is a pipe: the shell's `cmd | ...`. */
    if (pipe(p) != 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl("/bin/echo", "echo", "from the child", (char *)0);
        _exit(127);
    }
    close(p[1]);
    memset(buf, 0, sizeof buf);
    n = read(p[0], buf, sizeof buf - 1);
    checkf("child_stdout_piped", n == 15, "%.14s", buf);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
}

int main(void)
{
    close_range_cases();
    dup_onto_stdio();
    return finish();
}
