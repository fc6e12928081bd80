/* ptrace of a child by its parent: PTRACE_TRACEME then execve stops the child with
 * SIGTRAP; the parent reads its registers (GETREGS, PEEKUSER, GETREGSET) and memory
 * (PEEKDATA), traces its syscalls with PTRACE_SYSCALL and TRACESYSGOOD, sees it exit,
 * and kills a second traced child with PTRACE_KILL. Only the child's raw syscalls
 * between two marker getpid calls are printed (the C library's start-up differs). */
#include "common.h"
#include <elf.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#define MARK_BEGIN 0xfeed
#define MARK_END 0xbeef

/* The traced program: a fixed sequence of raw syscalls between the markers. */
static int child_workload(void)
{
    syscall(SYS_getpid, MARK_BEGIN);
    syscall(SYS_getuid);
    syscall(SYS_write, -1, "x", 1);
    syscall(SYS_close, -1);
    syscall(SYS_getppid);
    syscall(SYS_getpid, MARK_END);
    syscall(SYS_exit_group, 7);
    return 1;
}

/* fork a child that asks to be traced and execs this program as the workload. */
static pid_t start_traced(const char *self)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(90);
        char *args[] = {(char *)self, "child", NULL};
        execv(self, args);
        _exit(91);
    }
    return pid;
}

static const char *stop_name(int status)
{
    static char buf[64];
    if (WIFEXITED(status))
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "killed by %s", strsignal(WTERMSIG(status)));
    else if (WIFSTOPPED(status))
        snprintf(buf, sizeof buf, "stopped by %s%s event %d", strsignal(WSTOPSIG(status) & 0x7f),
                 WSTOPSIG(status) & 0x80 ? "|0x80" : "", status >> 16);
    else
        snprintf(buf, sizeof buf, "status %#x", status);
    return buf;
}

static void test_exec_stop_and_regs(pid_t pid)
{
    int status = 0;
    check("wait_exec_stop", waitpid(pid, &status, 0) == pid);
    checkf("exec_stop", WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP, "%s", stop_name(status));

    struct user_regs_struct regs;
    expect_ok("getregs", ptrace(PTRACE_GETREGS, pid, 0, &regs));
    check("getregs_rip_set", regs.rip != 0 && regs.rsp != 0);
    /* The first instruction of the new program: the same bytes natively. */
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)regs.rip, 0);
    checkf("peektext_entry", errno == 0, "%lx", word);
    errno = 0;
    long sp = ptrace(PTRACE_PEEKDATA, pid, (void *)regs.rsp, 0);
    checkf("peekdata_argc", errno == 0 && sp == 2, "%ld", sp);
    errno = 0;
    ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0);
    checkf("peekdata_unmapped", errno == EIO, "%s", errname(errno));
    errno = 0;
    long rip = ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, rip), 0);
    check("peekuser_rip", errno == 0 && (unsigned long)rip == regs.rip);
    errno = 0;
    ptrace(PTRACE_PEEKUSER, pid, (void *)3, 0);
    checkf("peekuser_unaligned", errno == EIO, "%s", errname(errno));

    long argc = 0;
    struct iovec local = {&argc, sizeof argc}, remote = {(void *)regs.rsp, sizeof argc};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    checkf("process_vm_readv", n == 8 && argc == 2, "%zd %ld", n, argc);
    char text[64];
    struct iovec two[2] = {{text, 3}, {text + 3, 61}};
    remote.iov_base = (void *)regs.rip;
    remote.iov_len = sizeof text;
    n = process_vm_readv(pid, two, 2, &remote, 1, 0);
    checkf("process_vm_readv_split", n == 64 && memcmp(text, &word, 8) == 0, "%zd", n);
    long one = 1;
    local.iov_base = &one;
    remote.iov_base = (void *)(regs.rsp - 64);
    remote.iov_len = 8;
    n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    errno = 0;
    long back = ptrace(PTRACE_PEEKDATA, pid, (void *)(regs.rsp - 64), 0);
    checkf("process_vm_writev", n == 8 && back == 1, "%zd %ld", n, back);
    remote.iov_base = (void *)8;
    expect_err("process_vm_readv_unmapped", process_vm_readv(pid, &local, 1, &remote, 1, 0), EFAULT);

    struct user_regs_struct set;
    struct iovec iov = {&set, sizeof set};
    expect_ok("getregset_prstatus", ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov));
    check("getregset_same", iov.iov_len == sizeof set && set.rip == regs.rip && set.rsp == regs.rsp);
}

/* Trace the child's syscalls to its end; print those between the markers. */
static void test_syscall_stops(pid_t pid)
{
    expect_ok("setoptions_sysgood", ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    int recording = 0, entering = 1, status = 0, stops = 0;
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, 0, 0) != 0) {
            printf("ptrace_syscall: %s FAIL\n", errname(errno));
            g_failures++;
            return;
        }
        if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
            break;
        stops++;
        if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
            printf("unexpected stop: %s\n", stop_name(status));
            continue;
        }
        struct user_regs_struct r;
        ptrace(PTRACE_GETREGS, pid, 0, &r);
        if (entering && r.orig_rax == SYS_getpid && r.rdi == MARK_BEGIN)
            recording = 1;
        if (recording) {
            if (entering)
                printf("enter %llu rax=%lld\n", r.orig_rax, (long long)r.rax);
            else
                printf("exit %llu rax=%s\n", r.orig_rax,
                       (long long)r.rax < 0 ? errname(-(long long)r.rax) : (r.orig_rax == SYS_getuid ? "uid" : "ok"));
        }
        if (!entering && r.orig_rax == SYS_getpid && r.rdi == MARK_END)
            recording = 0;
        entering = !entering;
    }
    check("syscall_stops_seen", stops > 12);
    checkf("traced_exit", WIFEXITED(status) && WEXITSTATUS(status) == 7, "%s", stop_name(status));
}

static void test_kill(const char *self)
{
    pid_t pid = start_traced(self);
    int status = 0;
    waitpid(pid, &status, 0);
    checkf("second_exec_stop", WIFSTOPPED(status), "%s", stop_name(status));
    expect_ok("ptrace_kill", ptrace(PTRACE_KILL, pid, 0, 0));
    check("wait_killed", waitpid(pid, &status, 0) == pid);
    checkf("killed_status", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s", stop_name(status));
    expect_err("regs_after_end", ptrace(PTRACE_GETREGS, pid, 0, &status), ESRCH);
}

static void test_errors(void)
{
    struct user_regs_struct r;
    expect_err("getregs_not_traced", ptrace(PTRACE_GETREGS, getppid(), 0, &r), ESRCH);
    expect_err("cont_self", ptrace(PTRACE_CONT, getpid(), 0, 0), ESRCH);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_workload();
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t pid = start_traced(argv[0]);
    test_exec_stop_and_regs(pid);
    test_syscall_stops(pid);
    test_kill(argv[0]);
    test_errors();
    return g_failures != 0;
}
