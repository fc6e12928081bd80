/* getpriority/setpriority: the raw syscall's 20 - nice and glibc's conversion, the three
 * `which` kinds, clamping to -20..19, errors, inheritance across fork, and setting another
 * process's priority. Nice values are printed relative to the starting one, so the output
 * does not depend on how the test itself was started. */
#include "common.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int start;

static int raw_getpriority(int which, int who)
{
    return (int)syscall(SYS_getpriority, which, who);
}

static void reading(void)
{
    errno = 0;
    start = getpriority(PRIO_PROCESS, 0);
    check("getpriority_self", errno == 0);
    checkf("raw_is_20_minus_nice", raw_getpriority(PRIO_PROCESS, 0) == 20 - start, "%d",
           raw_getpriority(PRIO_PROCESS, 0) - (20 - start));
    checkf("by_own_pid", getpriority(PRIO_PROCESS, getpid()) == start, "%d",
           getpriority(PRIO_PROCESS, getpid()) - start);
    errno = 0;
    int pgrp = getpriority(PRIO_PGRP, 0);
    check("pgrp_answers", errno == 0 && pgrp <= start);
    errno = 0;
    int user = getpriority(PRIO_USER, 0);
    check("user_answers", errno == 0 && user <= start);
    expect_err("bad_which", getpriority(7, 0), EINVAL);
    expect_err("bad_which_negative", getpriority(-1, 0), EINVAL);
    expect_err("no_such_process", getpriority(PRIO_PROCESS, 0x3fffffff), ESRCH);
    expect_err("negative_pid", getpriority(PRIO_PROCESS, -5), ESRCH);
    expect_err("no_such_pgrp", getpriority(PRIO_PGRP, 0x3fffffff), ESRCH);
    expect_err("set_bad_which", setpriority(3, 0, start), EINVAL);
    expect_err("set_no_such_process", setpriority(PRIO_PROCESS, 0x3fffffff, start), ESRCH);
}

static void raising_nice(void)
{
    expect_ok("set_plus_2", setpriority(PRIO_PROCESS, 0, start + 2));
    checkf("now_plus_2", getpriority(PRIO_PROCESS, 0) == start + 2, "%d", getpriority(PRIO_PROCESS, 0) - start);
    checkf("raw_plus_2", 1, "%d", raw_getpriority(PRIO_PROCESS, 0) - (20 - start));
    expect_ok("set_by_pid", setpriority(PRIO_PROCESS, getpid(), start + 3));
    checkf("now_plus_3", getpriority(PRIO_PROCESS, 0) == start + 3, "%d", getpriority(PRIO_PROCESS, 0) - start);
    errno = 0;
    int r = nice(1);
    checkf("nice_1", errno == 0 && r == start + 4, "%d", r - start);
    /* Beyond the range: clamped to 19. */
    expect_ok("set_100", setpriority(PRIO_PROCESS, 0, 100));
    checkf("clamped_to_19", 1, "%d", getpriority(PRIO_PROCESS, 0));
    checkf("raw_clamped", 1, "%d", raw_getpriority(PRIO_PROCESS, 0));
}

static void children(void)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* Report the inherited value, then wait for the parent to change ours. */
        int inherited = getpriority(PRIO_PROCESS, 0);
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(100);
        _exit(getpriority(PRIO_PROCESS, 0) == 19 && inherited == 19 ? 0 : 1);
    }
    close(p[0]);
    checkf("child_seen", getpriority(PRIO_PROCESS, pid) == 19, "%d", getpriority(PRIO_PROCESS, pid));
    expect_ok("set_child", setpriority(PRIO_PROCESS, pid, 19));
    if (write(p[1], "x", 1) != 1)
        printf("write failed\n");
    close(p[1]);
    int st = -1;
    waitpid(pid, &st, 0);
    checkf("child_inherited", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void)
{
    reading();
    raising_nice();
    children();
    /* Lowering the nice value needs privilege: EACCES unless root (the same natively). */
    errno = 0;
    int r = setpriority(PRIO_PROCESS, 0, start);
    printf("lower_again: %s\n", r == 0 ? "ok" : errname(errno));
    return finish();
}
