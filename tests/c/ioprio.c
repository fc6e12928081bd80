/* ioprio_get/ioprio_set: a thread's I/O priority (class and level), its own by 0 or by its
 * id, inherited by a child; Linux's EINVAL for a bad `which` or class, ESRCH for a thread
 * that does not exist. */
#include "common.h"
#include <sys/syscall.h>
#include <sys/wait.h>

#define WHO_PROCESS 1
#define WHO_PGRP 2
#define CLASS_SHIFT 13
#define PRIO(class, level) (((class) << CLASS_SHIFT) | (level))
#define CLASS_BE 2
#define CLASS_IDLE 3

static long get(int which, int who) { return syscall(SYS_ioprio_get, which, who); }
static long set(int which, int who, int prio) { return syscall(SYS_ioprio_set, which, who, prio); }

int main(void)
{
    long start = get(WHO_PROCESS, 0);
    checkf("get_own", start >= 0 && start == get(WHO_PROCESS, getpid()), "%ld", start);
    expect_ok("set_best_effort_6", set(WHO_PROCESS, 0, PRIO(CLASS_BE, 6)));
    checkf("get_after_set", get(WHO_PROCESS, 0) == PRIO(CLASS_BE, 6), "%#lx", get(WHO_PROCESS, 0));
    checkf("get_by_tid", get(WHO_PROCESS, (int)syscall(SYS_gettid)) == PRIO(CLASS_BE, 6), "");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(get(WHO_PROCESS, 0) == PRIO(CLASS_BE, 6) ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    checkf("child_inherits", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d", WEXITSTATUS(st));
    expect_ok("set_idle", set(WHO_PROCESS, 0, PRIO(CLASS_IDLE, 0)));
    checkf("get_idle", get(WHO_PROCESS, 0) == PRIO(CLASS_IDLE, 0), "%#lx", get(WHO_PROCESS, 0));
    checkf("pgrp_get", get(WHO_PGRP, 0) >= 0, "");
    expect_err("bad_which", get(9, 0), EINVAL);
    expect_err("bad_class", set(WHO_PROCESS, 0, PRIO(7, 0)), EINVAL);
    expect_err("no_such_thread", get(WHO_PROCESS, 0x3fffffff), ESRCH);
    return finish();
}
