/* ptrace beyond reading: signal-delivery-stops (a signal suppressed, another replaced),
 * POKEDATA and SETREGS at syscall stops (the child sees the changed memory and return
 * value), SINGLESTEP, PTRACE_O_TRACEEXEC, TRACEEXIT and TRACEFORK events with
 * GETEVENTMSG, GETSIGINFO, DETACH, and the errors of what is refused. The child writes its own lines
 * with write(2) while the parent waits, so the order is fixed. */
#include "common.h"
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>

#define MARK 0xfeed

static void say(const char *s) { (void)!write(1, s, strlen(s)); }
static void on_usr1(int s) { (void)s; say("child: handler SIGUSR1\n"); }
static void on_usr2(int s) { (void)s; say("child: handler SIGUSR2\n"); }

static int child_main(const char *self)
{
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    raise(SIGUSR1); /* the tracer suppresses it */
    raise(SIGUSR2); /* the tracer delivers SIGUSR1 instead */
    volatile long value = 5;
    long r = syscall(SYS_getpid, MARK, &value);
    char line[80];
    snprintf(line, sizeof line, "child: value %ld ret %ld\n", value, r == getpid() ? -1 : r);
    say(line);
    execl(self, self, "last", (char *)NULL);
    return 90;
}

static pid_t start_traced(const char *self, const char *mode)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(91);
        execl(self, self, mode, (char *)NULL);
        _exit(92);
    }
    return pid;
}

static int wait_stop(pid_t pid, const char *name)
{
    int status = 0;
    if (waitpid(pid, &status, __WALL) != pid) {
        printf("%s: waitpid %s FAIL\n", name, errname(errno));
        g_failures++;
        return 0;
    }
    if (WIFSTOPPED(status))
        printf("%s: stopped %s event %d\n", name, strsignal(WSTOPSIG(status) & 0x7f), status >> 16);
    else if (WIFEXITED(status))
        printf("%s: exited %d\n", name, WEXITSTATUS(status));
    else
        printf("%s: status %#x\n", name, status);
    return status;
}

static void test_signals_and_pokes(const char *self)
{
    pid_t pid = start_traced(self, "child");
    wait_stop(pid, "exec");
    expect_ok("setoptions", ptrace(PTRACE_SETOPTIONS, pid, 0,
                                   PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT));
    expect_ok("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "first_signal");
    siginfo_t si;
    expect_ok("getsiginfo", ptrace(PTRACE_GETSIGINFO, pid, 0, &si));
    checkf("siginfo_signo", si.si_signo == SIGUSR1, "%s", strsignal(si.si_signo));
    /* A signal taken as a syscall (raise's tgkill) returns: orig_rax is that syscall's. */
    struct user_regs_struct sr;
    expect_ok("getregs_at_signal", ptrace(PTRACE_GETREGS, pid, 0, &sr));
    printf("signal_stop_orig_rax: %lld\n", (long long)sr.orig_rax);
    expect_ok("cont_suppressing", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "second_signal");
    /* SIGUSR1 instead of SIGUSR2; its handler runs, then the syscalls until the marked
     * getpid. */
    struct user_regs_struct r;
    int status, sig = SIGUSR1;
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, 0, sig) != 0) {
            printf("ptrace_syscall: %s FAIL\n", errname(errno));
            g_failures++;
            return;
        }
        sig = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
            return;
        ptrace(PTRACE_GETREGS, pid, 0, &r);
        if (r.orig_rax == SYS_getpid && r.rdi == MARK)
            break;
    }
    printf("marked getpid entry: %s\n", WSTOPSIG(status) == (SIGTRAP | 0x80) ? "SIGTRAP|0x80" : "other");
    expect_ok("pokedata", ptrace(PTRACE_POKEDATA, pid, (void *)r.rsi, (void *)42));
    expect_ok("syscall_to_exit", ptrace(PTRACE_SYSCALL, pid, 0, 0));
    wait_stop(pid, "marked_getpid_exit");
    ptrace(PTRACE_GETREGS, pid, 0, &r);
    r.rax = 12345;
    expect_ok("setregs", ptrace(PTRACE_SETREGS, pid, 0, &r));
    unsigned long long rip = r.rip;
    int moved = 0;
    for (int i = 0; i < 3; i++) {
        expect_ok("singlestep", ptrace(PTRACE_SINGLESTEP, pid, 0, 0));
        status = wait_stop(pid, "step");
        ptrace(PTRACE_GETREGS, pid, 0, &r);
        moved += r.rip != rip;
        rip = r.rip;
    }
    check("steps_moved", moved == 3);
    /* The child prints as it runs on: the parent's lines come after the stop. */
    long rc = ptrace(PTRACE_CONT, pid, 0, 0);
    status = wait_stop(pid, "exec_event");
    check("cont_to_exec", rc == 0);
    unsigned long msg = 0;
    expect_ok("geteventmsg_exec", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    check("eventmsg_is_pid", msg == (unsigned long)pid);
    expect_ok("cont_to_exit", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "exit_event");
    expect_ok("geteventmsg_exit", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    checkf("eventmsg_status", msg == 6 << 8, "%#lx", msg);
    expect_ok("cont_to_end", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "end");
}

static void test_detach(const char *self)
{
    pid_t pid = start_traced(self, "detached");
    wait_stop(pid, "detach_exec");
    long rc = ptrace(PTRACE_DETACH, pid, 0, 0);
    wait_stop(pid, "detached_end");
    check("detach", rc == 0);
    expect_err("regs_after_detach", ptrace(PTRACE_GETREGS, pid, 0, 0), ESRCH);
}

/* PTRACE_O_TRACEFORK: the tracee's fork stops it with PTRACE_EVENT_FORK (GETEVENTMSG:
 * the child), and the child, which is not the tracer's own, starts traced with a
 * SIGSTOP and its end is reported to the tracer too. */
static void test_fork_events(const char *self)
{
    pid_t pid = start_traced(self, "forker");
    wait_stop(pid, "forker_exec");
    expect_ok("setoptions_fork", ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEFORK));
    expect_ok("cont_to_fork", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "fork_event");
    unsigned long msg = 0;
    expect_ok("geteventmsg_fork", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    pid_t grandchild = (pid_t)msg;
    check("eventmsg_child", grandchild > 0 && grandchild != pid);
    wait_stop(grandchild, "grandchild_start");
    expect_ok("cont_grandchild", ptrace(PTRACE_CONT, grandchild, 0, 0));
    wait_stop(grandchild, "grandchild_end");
    expect_ok("cont_forker", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "forker_end");
}

static void test_refused(const char *self)
{
    pid_t pid = start_traced(self, "detached");
    wait_stop(pid, "refused_exec");
    expect_err("setoptions_unknown", ptrace(PTRACE_SETOPTIONS, pid, 0, 1 << 30), EINVAL);
    expect_err("cont_bad_signal", ptrace(PTRACE_CONT, pid, 0, 100), EIO);
    expect_err("unknown_request", ptrace((enum __ptrace_request)0x4299, pid, 0, 0), EIO);
    expect_err("traceme_twice_parent", ptrace(PTRACE_GETREGS, 999999, 0, 0), ESRCH);
    expect_ok("kill", ptrace(PTRACE_KILL, pid, 0, 0));
    int status = 0;
    waitpid(pid, &status, 0);
    check("killed", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main(argv[0]);
    if (argc > 1 && strcmp(argv[1], "last") == 0)
        return 6;
    if (argc > 1 && strcmp(argv[1], "forker") == 0) {
        pid_t g = fork();
        if (g == 0)
            _exit(5);
        int st = 0;
        waitpid(g, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) + 1 : 99;
    }
    if (argc > 1 && strcmp(argv[1], "detached") == 0) {
        say("child: running detached\n");
        return 4;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_signals_and_pokes(argv[0]);
    test_detach(argv[0]);
    test_fork_events(argv[0]);
    test_refused(argv[0]);
    return g_failures != 0;
}
