/* Signal frames: sigaltstack + SA_ONSTACK, nested handlers, handlers that return
 * via rt_sigreturn and must restore all registers (general purpose and SSE),
 * a handler that edits the ucontext (RIP/RDX) to resume elsewhere, timers
 * (setitimer -> SIGALRM), EINTR from nanosleep, sigsuspend. */
#include "common.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

static char *g_alt;
static size_t g_alt_size;
static volatile int g_on_alt, g_ss_onstack, g_counter, g_alarm;
static char g_trace[32];
static volatile int g_trace_len;

static void trace(char c)
{
    if (g_trace_len < 31)
        g_trace[g_trace_len++] = c;
}

static void on_alt(int sig)
{
    (void)sig;
    char local;
    g_on_alt = &local >= g_alt && &local < g_alt + g_alt_size;
    stack_t cur;
    sigaltstack(NULL, &cur);
    g_ss_onstack = (cur.ss_flags & SS_ONSTACK) != 0;
    /* Changing the alt stack while running on it is refused. */
    stack_t again = {.ss_sp = g_alt, .ss_size = g_alt_size, .ss_flags = 0};
    errno = 0;
    if (sigaltstack(&again, NULL) == -1 && errno == EPERM)
        trace('P');
}

static void on_inner(int sig)
{
    (void)sig;
    trace('i');
    g_counter += 10;
}

static void on_outer(int sig)
{
    (void)sig;
    trace('o');
    raise(SIGUSR2); /* nested: SIGUSR2 is not in our mask */
    trace('O');
    g_counter += 1;
}

/* Clobbers SSE and general registers; rt_sigreturn must restore the interrupted ones. */
static void on_clobber(int sig)
{
    (void)sig;
    __asm__ volatile("pxor %%xmm8, %%xmm8\n\tpcmpeqd %%xmm9, %%xmm9\n\t"
                     "xor %%r12d, %%r12d\n\txor %%r13d, %%r13d\n\txor %%r14d, %%r14d\n\txor %%r15d, %%r15d"
                     ::: "xmm8", "xmm9", "r12", "r13", "r14", "r15");
    volatile double d = 1.0;
    for (int i = 0; i < 10; i++)
        d = d * 3.5 + 1.0;
}

/* SIGSEGV handler that resumes at the address in RCX and sets RDX to a marker. */
static void on_segv_skip(int sig, siginfo_t *si, void *ucv)
{
    (void)sig; (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_RIP] = uc->uc_mcontext.gregs[REG_RCX];
    uc->uc_mcontext.gregs[REG_RDX] = 0x1234;
}

static void on_alarm(int sig)
{
    (void)sig;
    g_alarm++;
}

int main(void)
{
    /* --- sigaltstack --- */
    stack_t ss, oss;
    check("sigaltstack_query_initial", sigaltstack(NULL, &oss) == 0 && (oss.ss_flags & SS_DISABLE));
    g_alt_size = 64 * 1024;
    g_alt = malloc(g_alt_size);
    ss.ss_sp = g_alt;
    ss.ss_size = 1024;
    ss.ss_flags = 0;
    expect_err("sigaltstack_too_small", sigaltstack(&ss, NULL), ENOMEM);
    ss.ss_size = g_alt_size;
    ss.ss_flags = 12345;
    expect_err("sigaltstack_bad_flags", sigaltstack(&ss, NULL), EINVAL);
    ss.ss_flags = 0;
    check("sigaltstack_set", sigaltstack(&ss, NULL) == 0);
    check("sigaltstack_query", sigaltstack(NULL, &oss) == 0 && oss.ss_sp == g_alt &&
                               oss.ss_size == g_alt_size && oss.ss_flags == 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_alt;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    check("handler_ran_on_altstack", g_on_alt);
    check("ss_onstack_inside_handler", g_ss_onstack);
    check("sigaltstack_eperm_while_on_it", g_trace_len == 1 && g_trace[0] == 'P');
    g_trace_len = 0;
    /* Without SA_ONSTACK the handler uses the normal stack. */
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    check("no_onstack_uses_main_stack", !g_on_alt);
    g_trace_len = 0;
    ss.ss_flags = SS_DISABLE;
    check("sigaltstack_disable", sigaltstack(&ss, NULL) == 0);
    sigaltstack(NULL, &oss);
    check("sigaltstack_disabled", (oss.ss_flags & SS_DISABLE) != 0);

    /* --- nested handlers, returning normally via rt_sigreturn --- */
    signal(SIGUSR1, on_outer);
    signal(SIGUSR2, on_inner);
    g_counter = 0;
    raise(SIGUSR1);
    g_trace[g_trace_len] = 0;
    checkf("nested_trace", !strcmp(g_trace, "oiO"), "%s", g_trace);
    checkf("handler_modified_global", g_counter == 11, "%d", g_counter);

    /* --- registers survive a handler that clobbers them --- */
    signal(SIGUSR1, on_clobber);
    unsigned long long in[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    unsigned long long out8[2] = {0}, out9[2] = {0};
    unsigned long r12 = 0, r15 = 0;
    pid_t pid = getpid();
    long tid = syscall(SYS_gettid);
    __asm__ volatile(
        "movdqu (%[in]), %%xmm8\n\t"
        "movdqu (%[in]), %%xmm9\n\t"
        "mov $0x1111, %%r12\n\t"
        "mov $0x4444, %%r15\n\t"
        "mov %[nr], %%eax\n\t"
        "mov %[pid], %%edi\n\t"
        "mov %[tid], %%rsi\n\t"
        "mov %[sig], %%edx\n\t"
        "syscall\n\t"
        "movdqu %%xmm8, (%[o8])\n\t"
        "movdqu %%xmm9, (%[o9])\n\t"
        "mov %%r12, %[r12]\n\t"
        "mov %%r15, %[r15]\n\t"
        : [r12] "=m"(r12), [r15] "=m"(r15)
        : [in] "r"(in), [o8] "r"(out8), [o9] "r"(out9), [nr] "i"(SYS_tgkill), [pid] "r"(pid),
          [tid] "r"(tid), [sig] "i"(SIGUSR1)
        : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "r12", "r15", "xmm8", "xmm9", "memory");
    check("xmm8_preserved", out8[0] == in[0] && out8[1] == in[1]);
    check("xmm9_preserved", out9[0] == in[0] && out9[1] == in[1]);
    check("r12_r15_preserved", r12 == 0x1111 && r15 == 0x4444);

    /* --- handler edits ucontext: skip the faulting instruction --- */
    struct sigaction sv = {0};
    sv.sa_sigaction = on_segv_skip;
    sv.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sv, NULL);
    unsigned long rdx = 0;
    __asm__ volatile(
        "lea 1f(%%rip), %%rcx\n\t"
        "xor %%edx, %%edx\n\t"
        "movb $1, 0x10\n\t" /* faults: address 0x10 is unmapped */
        "mov $0x9999, %%edx\n\t" /* skipped */
        "1:\n\t"
        "mov %%rdx, %0\n\t"
        : "=r"(rdx)
        :
        : "rcx", "rdx", "memory");
    checkf("ucontext_rip_rdx_edit", rdx == 0x1234, "%#lx", rdx);

    /* --- setitimer -> SIGALRM, sigsuspend waits for it --- */
    signal(SIGALRM, on_alarm);
    sigset_t blk, waitmask;
    sigemptyset(&blk);
    sigaddset(&blk, SIGALRM);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    struct itimerval it = {{0, 0}, {0, 30000}};
    check("setitimer", setitimer(ITIMER_REAL, &it, NULL) == 0);
    sigemptyset(&waitmask);
    g_alarm = 0;
    expect_err("sigsuspend_eintr", sigsuspend(&waitmask), EINTR);
    check("sigalrm_delivered", g_alarm == 1);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    check("sigsuspend_restores_mask", sigismember(&now, SIGALRM));
    sigprocmask(SIG_UNBLOCK, &blk, NULL);

    /* --- nanosleep interrupted by a timer signal: EINTR with time remaining --- */
    struct sigaction sal = {0};
    sal.sa_handler = on_alarm;
    sal.sa_flags = SA_RESTART; /* nanosleep is never restarted, even with SA_RESTART */
    sigaction(SIGALRM, &sal, NULL);
    it.it_value.tv_usec = 50000;
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec req = {5, 0}, rem = {0, 0};
    g_alarm = 0;
    expect_err("nanosleep_eintr", nanosleep(&req, &rem), EINTR);
    check("nanosleep_rem_positive", rem.tv_sec >= 3 && rem.tv_sec <= 5);
    check("alarm_handler_ran", g_alarm == 1);
    struct itimerval cur;
    getitimer(ITIMER_REAL, &cur);
    check("itimer_disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);

    /* alarm() returns the seconds left on a previous alarm. */
    alarm(100);
    unsigned left = alarm(0);
    check("alarm_returns_remaining", left >= 99 && left <= 100);
    return finish();
}
