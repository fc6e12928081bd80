/* seccomp: prctl's no_new_privs and seccomp options, the seccomp syscall's operations and
 * errors, strict mode, and BPF filters with each action (ERRNO, TRAP with its SIGSYS
 * siginfo, KILL_PROCESS, KILL_THREAD, TRACE without a tracer, LOG, ALLOW), on arguments,
 * stacked, inherited by fork and kept across exec, synchronised to threads (TSYNC), and
 * what /proc/self/status says. Each filtered case runs in a child of its own. */
#include "common.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>

static const char *g_self;

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

static long sc(int op, unsigned flags, void *args)
{
    return syscall(SYS_seccomp, op, flags, args);
}

/* A filter that answers `action` for syscall `nr` and allows the rest. */
static int filter_one(int nr, unsigned action, unsigned flags)
{
    struct sock_filter f[] = {
        LOAD_NR,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        RET(action),
        RET(SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    return (int)sc(SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void status_line_of(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
            printf("%s %s", file, line);
    if (f)
        fclose(f);
}

static void status_line(const char *key)
{
    status_line_of("/proc/self/status", key);
}

/* Run `body` in a child; say how it ended. */
static void in_child(const char *name, void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        body();
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("%s: killed by %s\n", name, strsignal(WTERMSIG(st)));
    else
        printf("%s: exit %d\n", name, WEXITSTATUS(st));
}

static void errors(void)
{
    expect_err("bad_op", sc(99, 0, NULL), EINVAL);
    expect_err("strict_with_flags", sc(SECCOMP_SET_MODE_STRICT, 1, NULL), EINVAL);
    expect_err("strict_with_args", sc(SECCOMP_SET_MODE_STRICT, 0, (void *)1), EINVAL);
    expect_err("filter_unknown_flag", sc(SECCOMP_SET_MODE_FILTER, 1u << 30, NULL), EINVAL);
    /* TSYNC_ESRCH alone is accepted (it is refused only with TSYNC and NEW_LISTENER). */
    expect_err("filter_esrch_without_tsync", sc(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC_ESRCH, NULL),
               EFAULT);
    expect_err("filter_null_prog", sc(SECCOMP_SET_MODE_FILTER, 0, NULL), EFAULT);
    struct sock_filter ret = RET(SECCOMP_RET_ALLOW);
    struct sock_fprog empty = {0, &ret};
    expect_err("filter_empty", sc(SECCOMP_SET_MODE_FILTER, 0, &empty), EINVAL);
    struct sock_fprog too_long = {4097, &ret};
    expect_err("filter_too_long", sc(SECCOMP_SET_MODE_FILTER, 0, &too_long), EINVAL);
    unsigned action = SECCOMP_RET_ALLOW;
    expect_err("action_avail_flags", sc(SECCOMP_GET_ACTION_AVAIL, 1, &action), EINVAL);
    expect_err("action_avail_fault", sc(SECCOMP_GET_ACTION_AVAIL, 0, NULL), EFAULT);
    unsigned actions[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
                          SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, 0x12340000};
    for (unsigned i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        long r = sc(SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]);
        printf("action_avail %#x: %s\n", actions[i], r == 0 ? "ok" : errname(errno));
    }
    struct seccomp_notif_sizes sizes;
    expect_ok("notif_sizes", sc(SECCOMP_GET_NOTIF_SIZES, 0, &sizes));
    printf("notif sizes: data %u\n", sizes.seccomp_data);
    expect_err("prctl_bad_mode", prctl(PR_SET_SECCOMP, 7, 0, 0, 0), EINVAL);
    expect_err("nnp_bad_value", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0), EINVAL);
    expect_err("nnp_extra_arg", prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0), EINVAL);
    expect_err("get_nnp_extra_arg", prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0), EINVAL);
}

/* Programs the kernel refuses, once no_new_privs allows filters at all. */
static void bad_programs(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_filter no_ret[] = {LOAD_NR};
    struct sock_fprog p1 = {1, no_ret};
    expect_err("no_return", sc(SECCOMP_SET_MODE_FILTER, 0, &p1), EINVAL);
    struct sock_filter byte_load[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_fprog p2 = {2, byte_load};
    expect_err("byte_load", sc(SECCOMP_SET_MODE_FILTER, 0, &p2), EINVAL);
    struct sock_filter past_data[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), RET(SECCOMP_RET_ALLOW)};
    struct sock_fprog p3 = {2, past_data};
    expect_err("load_past_data", sc(SECCOMP_SET_MODE_FILTER, 0, &p3), EINVAL);
    struct sock_filter jump_out[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_fprog p4 = {2, jump_out};
    expect_err("jump_out", sc(SECCOMP_SET_MODE_FILTER, 0, &p4), EINVAL);
    struct sock_filter unset_cell[] = {BPF_STMT(BPF_LD | BPF_MEM, 2), RET(SECCOMP_RET_ALLOW)};
    struct sock_fprog p5 = {2, unset_cell};
    expect_err("unset_cell", sc(SECCOMP_SET_MODE_FILTER, 0, &p5), EINVAL);
    struct sock_fprog p6 = {2, (struct sock_filter *)8};
    expect_err("prog_fault", sc(SECCOMP_SET_MODE_FILTER, 0, &p6), EFAULT);
    printf("mode still: %d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
}

/* Without no_new_privs and without CAP_SYS_ADMIN: EACCES. */
static void needs_nnp(void)
{
    if (setresuid(65534, 65534, 65534) != 0) {
        printf("needs_nnp: cannot drop privileges\n");
        return;
    }
    struct sock_filter f[] = {RET(SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {1, f};
    expect_err("filter_without_nnp", sc(SECCOMP_SET_MODE_FILTER, 0, &prog), EACCES);
    expect_ok("nnp_set", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    expect_ok("filter_with_nnp", sc(SECCOMP_SET_MODE_FILTER, 0, &prog));
}

static void errno_action(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    printf("nnp: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    expect_ok("filter", filter_one(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0));
    expect_err("getppid_eperm", syscall(SYS_getppid), EPERM);
    check("getpid_allowed", syscall(SYS_getpid) == getpid());
    expect_ok("filter_big_errno", filter_one(SYS_getuid, SECCOMP_RET_ERRNO | 0xffff, 0));
    long r = syscall(SYS_getuid);
    printf("big errno: %ld %d\n", r, errno);
    expect_ok("filter_errno_zero", filter_one(SYS_getgid, SECCOMP_RET_ERRNO | 0, 0));
    printf("errno 0: %ld\n", syscall(SYS_getgid));
    printf("mode: %d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    status_line("NoNewPrivs");
    status_line("Seccomp");
    status_line("Seccomp_filters");
}

/* A filter on an argument: write to fd 9 is refused, to stdout allowed. */
static void argument_filter(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct sock_filter f[] = {
        LOAD_NR,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 9, 0, 1),
        RET(SECCOMP_RET_ERRNO | EACCES),
        RET(SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    expect_ok("arg_filter", sc(SECCOMP_SET_MODE_FILTER, 0, &prog));
    dup2(1, 9);
    expect_err("write_fd9", write(9, "x", 1), EACCES);
    expect_ok("write_fd1", write(1, "written\n", 8) == 8 ? 0 : -1);
}

static volatile int g_trap_code, g_trap_errno, g_trap_syscall, g_trap_rax;
static volatile unsigned g_trap_arch;
static volatile long g_trap_addr_ok;

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    ucontext_t *uc = ctx;
    g_trap_code = si->si_code;
    g_trap_errno = si->si_errno;
    g_trap_syscall = si->si_syscall;
    g_trap_arch = si->si_arch;
    g_trap_addr_ok = si->si_call_addr != NULL;
    g_trap_rax = (int)uc->uc_mcontext.gregs[REG_RAX];
    uc->uc_mcontext.gregs[REG_RAX] = 4242; /* what the "syscall" returns */
}

static void trap_action(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    expect_ok("trap_filter", filter_one(SYS_getppid, SECCOMP_RET_TRAP | 77, 0));
    long r = syscall(SYS_getppid);
    printf("trapped: ret %ld code %d errno %d syscall %d arch %s addr %ld rax %d\n", r, g_trap_code, g_trap_errno,
           g_trap_syscall, g_trap_arch == AUDIT_ARCH_X86_64 ? "x86_64" : "other", g_trap_addr_ok, g_trap_rax);
    fflush(stdout);
    /* Ignored or blocked, the SIGSYS is still taken: the default action kills. */
    signal(SIGSYS, SIG_IGN);
    syscall(SYS_getppid);
    printf("not reached\n");
}

static void kill_process_action(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    signal(SIGSYS, SIG_IGN);
    filter_one(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0);
    syscall(SYS_getppid);
    printf("not reached\n");
}

static void kill_thread_alone(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    filter_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
    syscall(SYS_getppid);
    printf("not reached\n");
}

static void *killed_thread(void *arg)
{
    (void)arg;
    filter_one(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
    syscall(SYS_getppid);
    printf("not reached in thread\n");
    return NULL;
}

static void *filtering_thread(void *arg)
{
    (void)arg;
    filter_one(SYS_getppid, SECCOMP_RET_ERRNO | 3, 0);
    status_line_of("/proc/thread-self/status", "Seccomp");
    status_line_of("/proc/self/status", "Seccomp"); /* the first thread's: none */
    return NULL;
}

/* A filter is its thread's: /proc shows it for that thread only. */
static void thread_own_filter(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, filtering_thread, NULL);
    pthread_join(t, NULL);
}

static void kill_thread_among_others(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, killed_thread, NULL);
    pthread_join(t, NULL);
    /* The filter was the thread's own: this thread may still call getppid. */
    printf("main thread goes on: %d\n", syscall(SYS_getppid) > 0);
}

static void trace_log_stacking(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    filter_one(SYS_getppid, SECCOMP_RET_TRACE, 0);
    expect_err("trace_without_tracer", syscall(SYS_getppid), ENOSYS);
    filter_one(SYS_getpid, SECCOMP_RET_LOG, 0);
    check("log_allows", syscall(SYS_getpid) == getpid());
    /* Equal actions: the newest filter's data; a killing action beats any ERRNO. */
    filter_one(SYS_getuid, SECCOMP_RET_ERRNO | 5, 0);
    filter_one(SYS_getuid, SECCOMP_RET_ERRNO | 6, 0);
    expect_err("newest_errno", syscall(SYS_getuid), 6);
    filter_one(SYS_getgid, SECCOMP_RET_TRAP, 0);
    filter_one(SYS_getgid, SECCOMP_RET_ERRNO | 7, 0);
    signal(SIGSYS, SIG_DFL);
    status_line("Seccomp_filters");
    fflush(stdout);
    syscall(SYS_getgid); /* TRAP wins over the newer ERRNO: SIGSYS, default action */
    printf("not reached\n");
}

static void inherited(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    filter_one(SYS_getppid, SECCOMP_RET_ERRNO | 9, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        expect_err("forked_child_filtered", syscall(SYS_getppid), 9);
        fflush(stdout);
        execl(g_self, g_self, "after-exec", (char *)NULL);
        _exit(99);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("exec'd child: exit %d\n", WEXITSTATUS(st));
}

static void strict_mode(void)
{
    expect_ok("strict", prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0));
    const char msg[] = "strict: write allowed\n";
    syscall(SYS_write, 1, msg, sizeof msg - 1);
    syscall(SYS_getpid);
    syscall(SYS_write, 1, "not reached\n", 12);
}

static void strict_exit(void)
{
    fflush(stdout);
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
    syscall(SYS_exit, 5);
}

static void filter_then_strict(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    filter_one(SYS_getppid, SECCOMP_RET_ERRNO | 1, 0);
    expect_err("strict_after_filter", sc(SECCOMP_SET_MODE_STRICT, 0, NULL), EINVAL);
}

static pthread_barrier_t g_barrier;

static void *waiting_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&g_barrier); /* filter installed by the other thread */
    pthread_barrier_wait(&g_barrier);
    long r = syscall(SYS_getppid);
    printf("synced thread: %ld %s\n", r, errname(errno));
    return NULL;
}

static void tsync(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    pthread_t t;
    pthread_barrier_init(&g_barrier, NULL, 2);
    pthread_create(&t, NULL, waiting_thread, NULL);
    pthread_barrier_wait(&g_barrier);
    expect_ok("tsync_filter", filter_one(SYS_getppid, SECCOMP_RET_ERRNO | 11, SECCOMP_FILTER_FLAG_TSYNC));
    pthread_barrier_wait(&g_barrier);
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
    g_self = argv[0];
    if (argc > 1) {
        expect_err("exec_keeps_filter", syscall(SYS_getppid), 9);
        status_line("Seccomp");
        return finish();
    }
    printf("mode at start: %d, nnp %d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    errors();
    in_child("bad_programs", bad_programs);
    in_child("needs_nnp", needs_nnp);
    in_child("errno_action", errno_action);
    in_child("argument_filter", argument_filter);
    in_child("trap_action", trap_action);
    in_child("kill_process", kill_process_action);
    in_child("kill_thread_alone", kill_thread_alone);
    in_child("kill_thread_among_others", kill_thread_among_others);
    in_child("thread_own_filter", thread_own_filter);
    in_child("trace_log_stacking", trace_log_stacking);
    in_child("inherited", inherited);
    in_child("strict_mode", strict_mode);
    in_child("strict_exit", strict_exit);
    in_child("filter_then_strict", filter_then_strict);
    in_child("tsync", tsync);
    return finish();
}
