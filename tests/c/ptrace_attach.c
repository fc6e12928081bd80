/* ptrace of a process that did not ask for it: PTRACE_ATTACH (a SIGSTOP stop, PEEKDATA,
 * DETACH and the process runs on), PTRACE_SEIZE (no stop) with PTRACE_INTERRUPT
 * (PTRACE_EVENT_STOP), a syscall skipped at its entry stop (orig_rax -1, rax the result)
 * and PTRACE_GET_SYSCALL_INFO at the stops around it; a syscall's number changed at its
 * entry stop, results set with POKEUSER and SETREGSET, SETSIGINFO, PTRACE_O_EXITKILL,
 * PTRACE_O_TRACEVFORKDONE, and the errors of what Linux refuses. A stopped process
 * seized (PTRACE_EVENT_STOP with SIGSTOP), PTRACE_LISTEN ended by PTRACE_INTERRUPT (still
 * SIGSTOP) and by SIGCONT (SIGTRAP, then the SIGCONT's own stop); the child of a seized
 * tracee that forks is seized with its parent's options (TRACESYSGOOD's syscall stops,
 * TRACEEXEC's exec stop). Children of the tracer are attached, which Yama's ptrace_scope
 * 1 allows too. */
#include "common.h"
#include <elf.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define MARK1 0x5a1
#define MARK2 0x5a2
#define MARK3 0x5a3

/* As <linux/ptrace.h> has it (not included: it clashes with <sys/ptrace.h>). */
struct syscall_info {
    unsigned char op;
    unsigned char pad[3];
    unsigned int arch;
    unsigned long long ip, sp;
    union {
        struct {
            unsigned long long nr, args[6];
        } entry;
        struct {
            long long rval;
            unsigned char is_error;
        } exit;
    };
};

static volatile long g_marker = 0x1234;
/* Filled before the children are forked: theirs holds the same bytes. */
static char g_pages[3 * 4096] __attribute__((aligned(4096)));

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

static int wait_stop(pid_t pid, const char *name)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        printf("%s: waitpid %s FAIL\n", name, errname(errno));
        g_failures++;
        return 0;
    }
    if (WIFSTOPPED(status))
        printf("%s: stopped %s event %d\n", name, strsignal(WSTOPSIG(status) & 0x7f), status >> 16);
    else if (WIFEXITED(status))
        printf("%s: exited %d\n", name, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by %s\n", name, strsignal(WTERMSIG(status)));
    return status;
}

/* A child that says it is ready on `ready`, then blocks reading `go` and reports what
 * its read returned. */
static pid_t start_reader(int ready[2], int go[2])
{
    if (pipe(ready) != 0 || pipe(go) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        g_marker = 0x5678;
        (void)!write(ready[1], "r", 1);
        char buf[8];
        long n = read(go[0], buf, sizeof buf);
        char line[80];
        snprintf(line, sizeof line, "child: read returned %ld\n", n);
        say(line);
        _exit(3);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    (void)!read(ready[0], &c, 1);
    close(ready[0]);
    return pid;
}

static void test_attach(void)
{
    int ready[2], go[2];
    pid_t pid = start_reader(ready, go);
    expect_ok("attach", ptrace(PTRACE_ATTACH, pid, 0, 0));
    wait_stop(pid, "attach_stop");
    expect_err("attach_again", ptrace(PTRACE_ATTACH, pid, 0, 0), EPERM);
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, pid, (void *)&g_marker, 0);
    checkf("peek_marker", errno == 0 && word == 0x5678, "%#lx %s", word, errname(errno));
    /* Whole pages and runs across them, in one call each. */
    static char got[sizeof g_pages];
    for (size_t off = 0; off <= 100; off += 100) {
        memset(got, 0, sizeof got);
        struct iovec local = {got, sizeof got}, remote = {g_pages + off, sizeof g_pages - off};
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        printf("process_vm_readv_pages %zu: %zd same %d\n", off, n, memcmp(got, g_pages + off, sizeof g_pages - off) == 0);
    }
    struct user_regs_struct r;
    expect_ok("getregs", ptrace(PTRACE_GETREGS, pid, 0, &r));
    expect_err("interrupt_not_seized", ptrace(PTRACE_INTERRUPT, pid, 0, 0), EIO);
    expect_ok("detach", ptrace(PTRACE_DETACH, pid, 0, 0));
    (void)!write(go[1], "go", 2);
    close(go[1]);
    wait_stop(pid, "attached_end");
}

/* SEIZE, INTERRUPT in a blocking read, then the restarted read skipped at its entry
 * stop. */
static void test_seize_and_skip(void)
{
    int ready[2], go[2];
    pid_t pid = start_reader(ready, go);
    expect_err("seize_bad_addr", ptrace(PTRACE_SEIZE, pid, (void *)1, 0), EIO);
    expect_ok("seize", ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD));
    int status = 0;
    check("seize_no_stop", waitpid(pid, &status, WNOHANG) == 0);
    expect_err("listen_running", ptrace(PTRACE_LISTEN, pid, 0, 0), ESRCH);
    /* Well inside its read by now: the event stop shows the read cut short, as a signal
     * stop would (orig_rax its number, rax -ERESTARTSYS), and the read runs again. */
    usleep(200 * 1000);
    expect_ok("interrupt", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    status = wait_stop(pid, "interrupt_stop");
    check("event_stop", status >> 16 == PTRACE_EVENT_STOP);
    struct user_regs_struct ir;
    ptrace(PTRACE_GETREGS, pid, 0, &ir);
    printf("interrupted_read: orig_rax %lld rax %lld\n", (long long)ir.orig_rax, (long long)ir.rax);
    struct syscall_info si;
    memset(&si, 0xff, sizeof si);
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si);
    printf("info_at_event_stop: size %ld op %d\n", n, si.op);
    /* The read runs again: its entry stop. */
    for (;;) {
        expect_ok("syscall_to_read", ptrace(PTRACE_SYSCALL, pid, 0, 0));
        status = wait_stop(pid, "syscall_stop");
        if (!WIFSTOPPED(status))
            return;
        n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si);
        if (si.op == 1 && si.entry.nr == SYS_read)
            break;
    }
    printf("entry_info: size %ld op %d arch %#x nr %llu fd_is_pipe %d\n", n, si.op, si.arch,
           si.entry.nr, si.entry.args[0] == (unsigned long long)go[0]);
    /* A short buffer gets the start of it; the size is the whole. */
    unsigned char head[4] = {9, 9, 9, 9};
    n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)2, head);
    printf("short_info: size %ld op %d next %d\n", n, head[0], head[2]);
    struct user_regs_struct r;
    ptrace(PTRACE_GETREGS, pid, 0, &r);
    printf("entry_rax_is_enosys: %d\n", (long)r.rax == -ENOSYS);
    r.orig_rax = -1;
    r.rax = 77;
    expect_ok("skip_setregs", ptrace(PTRACE_SETREGS, pid, 0, &r));
    expect_ok("syscall_to_exit", ptrace(PTRACE_SYSCALL, pid, 0, 0));
    wait_stop(pid, "skipped_exit");
    n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si);
    printf("exit_info: size %ld op %d rval %lld is_error %d\n", n, si.op, si.exit.rval, si.exit.is_error);
    ptrace(PTRACE_GETREGS, pid, 0, &r);
    printf("exit_orig_rax: %lld\n", (long long)r.orig_rax);
    unsigned long msg = 99;
    expect_ok("geteventmsg_exit_stop", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    printf("eventmsg_at_exit_stop: %lu\n", msg);
    /* The child prints as it runs on: the parent's lines come after its end. */
    long rc = ptrace(PTRACE_DETACH, pid, 0, 0);
    wait_stop(pid, "seized_end");
    check("detach_seized", rc == 0);
    close(go[1]);
}

static pid_t start_traceme(const char *self, const char *mode)
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

/* Run the tracee to the entry (`exit` 0) or exit stop of its getpid(mark). */
static int to_marked(pid_t pid, long mark, int at_exit, struct user_regs_struct *r)
{
    struct syscall_info si;
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, pid, 0, 0) != 0)
            return 0;
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
            return 0;
        ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si);
        ptrace(PTRACE_GETREGS, pid, 0, r);
        if (r->orig_rax == SYS_getpid && r->rdi == (unsigned long long)mark && si.op == (at_exit ? 2 : 1))
            return 1;
    }
}

static int changer_main(void)
{
    long a = syscall(SYS_getpid, MARK1);
    long b = syscall(SYS_getpid, MARK2);
    long c = syscall(SYS_getpid, MARK3);
    char line[120];
    snprintf(line, sizeof line, "child: changed call gave the parent: %d, poked %ld, regset %ld\n",
             a == getppid(), b, c);
    say(line);
    return 4;
}

static void test_change_syscall(const char *self)
{
    pid_t pid = start_traceme(self, "changer");
    wait_stop(pid, "changer_exec");
    expect_ok("setoptions_sysgood", ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    struct user_regs_struct r;
    check("to_mark1_entry", to_marked(pid, MARK1, 0, &r));
    r.orig_rax = SYS_getppid;
    expect_ok("change_number", ptrace(PTRACE_SETREGS, pid, 0, &r));
    check("to_mark2_exit", to_marked(pid, MARK2, 1, &r));
    expect_ok("pokeuser_rax", ptrace(PTRACE_POKEUSER, pid, (void *)offsetof(struct user_regs_struct, rax),
                                     (void *)1111));
    errno = 0;
    long rax = ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, rax), 0);
    checkf("peekuser_rax", errno == 0 && rax == 1111, "%ld", rax);
    long dr7 = offsetof(struct user, u_debugreg) + 7 * sizeof(long);
    expect_ok("pokeuser_dr7_zero", ptrace(PTRACE_POKEUSER, pid, (void *)dr7, 0));
    expect_err("pokeuser_unaligned", ptrace(PTRACE_POKEUSER, pid, (void *)3, 0), EIO);
    expect_err("pokeuser_past_user", ptrace(PTRACE_POKEUSER, pid, (void *)sizeof(struct user), 0), EIO);
    check("to_mark3_exit", to_marked(pid, MARK3, 1, &r));
    struct user_regs_struct set = r;
    set.rax = 2222;
    struct iovec iov = {&set, sizeof set};
    expect_ok("setregset", ptrace(PTRACE_SETREGSET, pid, (void *)NT_PRSTATUS, &iov));
    printf("setregset_len: %d\n", iov.iov_len == sizeof set);
    struct iovec odd = {&set, 3};
    expect_err("setregset_odd_len", ptrace(PTRACE_SETREGSET, pid, (void *)NT_PRSTATUS, &odd), EINVAL);
    long rc = ptrace(PTRACE_CONT, pid, 0, 0);
    wait_stop(pid, "changer_end");
    check("cont_changer", rc == 0);
}

static void on_usr1(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    char line[80];
    snprintf(line, sizeof line, "child: SIGUSR1 code %d value %d\n", info->si_code, info->si_value.sival_int);
    say(line);
}

static int siginfo_main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    return 5;
}

static void test_setsiginfo(const char *self)
{
    pid_t pid = start_traceme(self, "siginfo");
    wait_stop(pid, "siginfo_exec");
    expect_ok("cont_to_signal", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "signal_stop");
    siginfo_t si;
    expect_ok("getsiginfo", ptrace(PTRACE_GETSIGINFO, pid, 0, &si));
    si.si_code = SI_QUEUE;
    si.si_value.sival_int = 77;
    expect_ok("setsiginfo", ptrace(PTRACE_SETSIGINFO, pid, 0, &si));
    long rc = ptrace(PTRACE_CONT, pid, 0, SIGUSR1);
    wait_stop(pid, "siginfo_end");
    check("cont_with_signal", rc == 0);
}

static int vforker_main(void)
{
    pid_t g = vfork();
    if (g == 0)
        _exit(0);
    int st;
    waitpid(g, &st, 0);
    return 6;
}

static void test_vfork_done(const char *self)
{
    pid_t pid = start_traceme(self, "vforker");
    wait_stop(pid, "vforker_exec");
    expect_ok("setoptions_vforkdone", ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEVFORKDONE));
    expect_ok("cont_to_vfork_done", ptrace(PTRACE_CONT, pid, 0, 0));
    int status = wait_stop(pid, "vfork_done");
    check("vfork_done_event", status >> 16 == PTRACE_EVENT_VFORK_DONE);
    unsigned long msg = 0;
    expect_ok("geteventmsg_vfork_done", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    check("eventmsg_child", msg > 0 && msg != (unsigned long)pid);
    expect_ok("cont_vforker", ptrace(PTRACE_CONT, pid, 0, 0));
    /* The SIGCHLD of the vfork child's end stops it (a traced process stops for it). */
    status = wait_stop(pid, "vforker_sigchld");
    if (WIFSTOPPED(status)) {
        expect_ok("cont_vforker_end", ptrace(PTRACE_CONT, pid, 0, 0));
        wait_stop(pid, "vforker_end");
    }
}

/* A tracer that exits with PTRACE_O_EXITKILL set takes its stopped tracee with it: the
 * tracee would otherwise run on and write to the pipe. */
static void test_exitkill(void)
{
    int p[2];
    if (pipe(p) != 0)
        return;
    fflush(stdout);
    pid_t tracer = fork();
    if (tracer == 0) {
        pid_t tracee = fork();
        if (tracee == 0) {
            close(p[0]);
            ptrace(PTRACE_TRACEME, 0, 0, 0);
            raise(SIGSTOP);
            (void)!write(p[1], "alive", 5);
            _exit(0);
        }
        close(p[1]);
        int st;
        waitpid(tracee, &st, 0);
        _exit(ptrace(PTRACE_SETOPTIONS, tracee, 0, PTRACE_O_EXITKILL) == 0 ? 0 : 1);
    }
    close(p[1]);
    int st = 0;
    waitpid(tracer, &st, 0);
    check("exitkill_setoptions", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char buf[8];
    long n = read(p[0], buf, sizeof buf);
    printf("exitkill: tracee wrote %ld bytes\n", n);
    close(p[0]);
}

/* A process that stopped itself, seized: its group-stop shows as PTRACE_EVENT_STOP with
 * SIGSTOP; PTRACE_LISTEN leaves it stopped (not for the tracer: ESRCH) until
 * PTRACE_INTERRUPT (a new event stop, still SIGSTOP) or a SIGCONT (SIGTRAP, and then the
 * SIGCONT itself stops it as any signal). */
static void test_seize_stopped(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        say("child: continued\n");
        _exit(7);
    }
    int status = 0;
    waitpid(pid, &status, WUNTRACED);
    printf("self_stopped: %d %s\n", WIFSTOPPED(status), WIFSTOPPED(status) ? strsignal(WSTOPSIG(status)) : "-");
    expect_ok("seize_stopped", ptrace(PTRACE_SEIZE, pid, 0, 0));
    status = wait_stop(pid, "seized_stop");
    check("seized_stop_event", status >> 16 == PTRACE_EVENT_STOP && WSTOPSIG(status) == SIGSTOP);
    expect_ok("listen", ptrace(PTRACE_LISTEN, pid, 0, 0));
    check("listen_no_stop", waitpid(pid, &status, WNOHANG) == 0);
    struct user_regs_struct r;
    expect_err("getregs_listening", ptrace(PTRACE_GETREGS, pid, 0, &r), ESRCH);
    expect_ok("interrupt_listening", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    wait_stop(pid, "interrupted_listen");
    expect_ok("listen_again", ptrace(PTRACE_LISTEN, pid, 0, 0));
    kill(pid, SIGCONT);
    wait_stop(pid, "continued_listen");
    expect_ok("cont_after_listen", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_stop(pid, "sigcont_stop");
    long rc = ptrace(PTRACE_CONT, pid, 0, SIGCONT);
    wait_stop(pid, "seized_stopped_end");
    check("cont_with_sigcont", rc == 0);
}

static int grandchild_main(void)
{
    return 8;
}

/* The child of a seized tracee that forks: seized too, first stopped by a
 * PTRACE_EVENT_STOP, with its parent's options (a syscall stop is SIGTRAP|0x80, the exec
 * a PTRACE_EVENT_EXEC stop) though the tracer never set them on it. */
static void test_seized_children(const char *self)
{
    int go[2];
    if (pipe(go) != 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        char c;
        (void)!read(go[0], &c, 1);
        pid_t g = fork();
        if (g == 0) {
            execl(self, self, "grandchild", (char *)NULL);
            _exit(92);
        }
        int st;
        waitpid(g, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) + 1 : 90);
    }
    close(go[0]);
    long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC;
    expect_ok("seize_forker", ptrace(PTRACE_SEIZE, pid, 0, options));
    (void)!write(go[1], "g", 1);
    close(go[1]);
    int status = wait_stop(pid, "forker_fork");
    unsigned long child = 0;
    ptrace(PTRACE_GETEVENTMSG, pid, 0, &child);
    pid_t g = (pid_t)child;
    status = 0;
    waitpid(g, &status, __WALL);
    printf("grandchild_start: stopped %d sig %s event %d\n", WIFSTOPPED(status), strsignal(WSTOPSIG(status) & 0x7f),
           status >> 16);
    expect_ok("grandchild_syscall", ptrace(PTRACE_SYSCALL, g, 0, 0));
    status = 0;
    waitpid(g, &status, __WALL);
    printf("grandchild_syscall_stop: sysgood %d\n", WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80));
    /* To the exec: its PTRACE_EVENT_EXEC stop (syscall stops on the way are passed). */
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, g, 0, 0) != 0)
            break;
        status = 0;
        if (waitpid(g, &status, __WALL) != g || !WIFSTOPPED(status) || status >> 16 != 0)
            break;
    }
    printf("grandchild_exec: stopped %d event %d\n", WIFSTOPPED(status), status >> 16);
    expect_ok("cont_grandchild", ptrace(PTRACE_CONT, g, 0, 0));
    status = 0;
    waitpid(g, &status, __WALL);
    printf("grandchild_end: exited %d status %d\n", WIFEXITED(status), WEXITSTATUS(status));
    /* The forker runs on to its end (its SIGCHLD stops it on the way). */
    int sig = 0;
    for (;;) {
        if (ptrace(PTRACE_CONT, pid, 0, sig) != 0)
            break;
        status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
            break;
        sig = status >> 16 == 0 && WSTOPSIG(status) != SIGCHLD ? WSTOPSIG(status) : 0;
    }
    printf("forker_end: exited %d status %d\n", WIFEXITED(status), WEXITSTATUS(status));
}

static void test_refused(void)
{
    expect_err("attach_self", ptrace(PTRACE_ATTACH, getpid(), 0, 0), EPERM);
    fflush(stdout);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    expect_err("attach_gone", ptrace(PTRACE_ATTACH, gone, 0, 0), ESRCH);
    expect_err("seize_gone", ptrace(PTRACE_SEIZE, gone, 0, 0), ESRCH);
    expect_err("seize_unknown_option", ptrace(PTRACE_SEIZE, getpid(), 0, 1 << 30), EIO);
    expect_err("interrupt_not_traced", ptrace(PTRACE_INTERRUPT, gone, 0, 0), ESRCH);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "changer") == 0)
        return changer_main();
    if (argc > 1 && strcmp(argv[1], "siginfo") == 0)
        return siginfo_main();
    if (argc > 1 && strcmp(argv[1], "vforker") == 0)
        return vforker_main();
    if (argc > 1 && strcmp(argv[1], "grandchild") == 0)
        return grandchild_main();
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof g_pages; i++)
        g_pages[i] = (char)(i * 7 + i / 4096);
    test_attach();
    test_seize_and_skip();
    test_change_syscall(argv[0]);
    test_setsiginfo(argv[0]);
    test_vfork_done(argv[0]);
    test_exitkill();
    test_seize_stopped();
    test_seized_children(argv[0]);
    test_refused();
    return g_failures != 0;
}
