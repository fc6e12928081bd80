/* Handlers as a program meets them, on every architecture (written for the arm64 port,
 * docs/arm64.md): SIGSEGV with SA_SIGINFO (si_code, si_addr) left by siglongjmp or
 * resumed after the handler fixed the mapping, raise/kill to ourselves, a blocked signal
 * delivered when unmasked, sigsuspend, SA_RESETHAND, SA_NODEFER, the alternate stack (a
 * handler on it, a stack overflow caught there). On arm64 also the frame itself: the
 * ucontext's fault_address, its __reserved records (fpsimd_context, esr_context, the null
 * header), FP/SIMD registers put back by rt_sigreturn (and taken from the frame when a
 * handler changes them), and the faults an instruction raises (udf: SIGILL, brk:
 * SIGTRAP, a misaligned pc: SIGBUS). Last, an unwinder (glibc's backtrace, libgcc's
 * unwinder) walks from a handler through the signal frame into the faulting function
 * and its caller: on arm64 it finds the frame by the return address's rt_sigreturn code. */
#include "common.h"
#include <execinfo.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

#define PG 4096UL

static sigjmp_buf g_jmp;
static volatile int g_sig, g_code, g_hits;
static void *volatile g_addr;
static volatile int g_on_alt, g_alt_flags_onstack;
static char *volatile g_fix_page;
static volatile unsigned long g_frame_fault_address;
static volatile int g_frame_fpsimd, g_frame_esr_ec, g_frame_esr_wnr, g_frame_end;

static char g_altstack[64 * 1024];

#ifdef __aarch64__
/* Walk the ucontext's __reserved records as a debugger would. */
static void read_frame(ucontext_t *uc)
{
    g_frame_fault_address = uc->uc_mcontext.fault_address;
    g_frame_fpsimd = 0;
    g_frame_esr_ec = -1;
    g_frame_esr_wnr = -1;
    g_frame_end = 0;
    unsigned char *p = uc->uc_mcontext.__reserved;
    unsigned char *end = p + sizeof uc->uc_mcontext.__reserved;
    while (p + 8 <= end) {
        struct _aarch64_ctx *h = (struct _aarch64_ctx *)p;
        if (h->magic == 0) {
            g_frame_end = h->size == 0;
            break;
        }
        if (h->magic == FPSIMD_MAGIC)
            g_frame_fpsimd = h->size == sizeof(struct fpsimd_context);
        if (h->magic == ESR_MAGIC) {
            unsigned long esr = ((struct esr_context *)h)->esr;
            g_frame_esr_ec = (int)(esr >> 26);
            g_frame_esr_wnr = (int)((esr >> 6) & 1);
        }
        if (h->size < 8)
            break;
        p += h->size;
    }
}
#endif

static void on_fault_jump(int sig, siginfo_t *si, void *uc)
{
    g_sig = sig;
    g_code = si->si_code;
    g_addr = si->si_addr;
#ifdef __aarch64__
    read_frame(uc);
#else
    (void)uc;
#endif
    siglongjmp(g_jmp, 1);
}

/* Make the faulting page accessible and return: the access runs again and succeeds. */
static void on_fault_fix(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_sig = sig;
    g_code = si->si_code;
    g_addr = si->si_addr;
    g_hits++;
    mprotect(g_fix_page, PG, PROT_READ | PROT_WRITE);
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_hits++;
    g_sig = sig;
    g_code = si->si_code;
    g_addr = (void *)(uintptr_t)(si->si_pid == getpid() && si->si_uid == getuid());
}

static void on_plain(int sig)
{
    g_hits++;
    g_sig = sig;
}

/* SA_NODEFER: the handler raises its own signal once more; it runs nested at once
 * (without SA_NODEFER it waits until the first handler returned). */
static volatile int g_depth, g_max_depth, g_raised;
static void on_nodefer(int sig)
{
    g_depth++;
    if (g_depth > g_max_depth)
        g_max_depth = g_depth;
    if (!g_raised) {
        g_raised = 1;
        raise(sig);
    }
    g_depth--;
}

static void on_alt(int sig)
{
    char here;
    g_sig = sig;
    g_on_alt = &here >= g_altstack && &here < g_altstack + sizeof g_altstack;
    stack_t cur;
    sigaltstack(NULL, &cur);
    g_alt_flags_onstack = (cur.ss_flags & SS_ONSTACK) != 0;
}

static void on_overflow(int sig)
{
    char here;
    g_sig = sig;
    g_on_alt = &here >= g_altstack && &here < g_altstack + sizeof g_altstack;
    siglongjmp(g_jmp, 1);
}

static __attribute__((noinline)) unsigned long deep(int kib)
{
    volatile char frame[1024];
    frame[0] = (char)kib;
    frame[1023] = 1;
    if (kib <= 1)
        return frame[0];
    return deep(kib - 1) + frame[1023];
}

/* backtrace() from a SIGSEGV handler: which of the interrupted function and its caller
 * it reaches (return addresses within their first bytes). */
static volatile int g_bt_faulting, g_bt_caller;
static __attribute__((noinline)) void faulting_function(volatile char *p)
{
    *p = 1;
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void caller_function(volatile char *p)
{
    faulting_function(p);
    __asm__ volatile("" ::: "memory");
}

static int in_function(void *pc, void *fn)
{
    return (char *)pc >= (char *)fn && (char *)pc < (char *)fn + 512;
}

static void on_fault_backtrace(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    void *pcs[32];
    int n = backtrace(pcs, 32);
    for (int i = 0; i < n; i++) {
        g_bt_faulting |= in_function(pcs[i], (void *)faulting_function);
        g_bt_caller |= in_function(pcs[i], (void *)caller_function);
    }
    siglongjmp(g_jmp, 1);
}

static void install(int sig, void (*h)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void install_plain(int sig, void (*h)(int), int flags)
{
    struct sigaction sa = {0};
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static const char *segv_code(int c)
{
    return c == SEGV_MAPERR ? "SEGV_MAPERR" : c == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
}

/* Read or write *p under on_fault_jump; 0 or the signal. */
static int fault_at(volatile char *p, int write)
{
    g_sig = 0;
    g_addr = NULL;
    if (sigsetjmp(g_jmp, 1) == 0) {
        if (write)
            *p = 1;
        else
            (void)*p;
    }
    return g_sig;
}

#ifdef __aarch64__
/* Code to fault in: an undefined instruction, a breakpoint. */
extern char lr_udf[], lr_brk[];
__asm__(".text\n.p2align 2\n.globl lr_udf\nlr_udf: udf #0\n ret\n"
        ".globl lr_brk\nlr_brk: brk #0x7\n ret\n");

/* d16 holds 1.5 across a signal sent by the syscall itself (tgkill in asm, so no
 * function call may save it); the handler clobbers d16 and writes 2.5 into the frame's
 * v17: after the return d16 must be 1.5 again and d17 2.5. */
static void on_fp(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    __asm__ volatile("fmov d16, #3.0" ::: "v16");
    ucontext_t *uc = ctx;
    struct _aarch64_ctx *h = (struct _aarch64_ctx *)uc->uc_mcontext.__reserved;
    if (h->magic == FPSIMD_MAGIC) {
        double v = 2.5;
        __uint128_t q = 0;
        memcpy(&q, &v, sizeof v);
        ((struct fpsimd_context *)h)->vregs[17] = q;
    }
    g_hits++;
}

static void fp_across_signal(double *d16, double *d17)
{
    long pid = getpid(), tid = syscall(SYS_gettid);
    register long x0 __asm__("x0") = pid;
    register long x1 __asm__("x1") = tid;
    register long x2 __asm__("x2") = SIGUSR2;
    register long x8 __asm__("x8") = SYS_tgkill;
    double a, b;
    __asm__ volatile("fmov d16, #1.5\n\t"
                     "fmov d17, #1.0\n\t"
                     "svc #0\n\t"
                     "fmov %d[a], d16\n\t"
                     "fmov %d[b], d17"
                     : [a] "=w"(a), [b] "=w"(b), "+r"(x0)
                     : "r"(x1), "r"(x2), "r"(x8)
                     : "v16", "v17", "memory");
    *d16 = a;
    *d17 = b;
}

static void arm64_checks(void)
{
    /* The frame of a data abort: fault_address, FP/SIMD record, ESR record, the end. */
    install(SIGSEGV, on_fault_jump, 0);
    char *m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int sig = fault_at(m + 24, 1);
    checkf("frame_segv", sig == SIGSEGV && g_code == SEGV_ACCERR, "%d %s", sig, segv_code(g_code));
    check("frame_fault_address", g_frame_fault_address == (unsigned long)(m + 24));
    check("frame_fpsimd_record", g_frame_fpsimd);
    checkf("frame_esr_record", g_frame_esr_ec == 0x24 && g_frame_esr_wnr == 1, "ec %#x wnr %d", g_frame_esr_ec,
           g_frame_esr_wnr);
    check("frame_null_header", g_frame_end);
    sig = fault_at(m + PG * 0 + 8, 0);
    checkf("read_readable_no_fault", sig == 0, "%d", sig);
    munmap(m, PG);
    sig = fault_at(m + 100, 0);
    checkf("frame_read_esr", sig == SIGSEGV && g_frame_esr_ec == 0x24 && g_frame_esr_wnr == 0, "%s ec %#x wnr %d",
           segv_code(g_code), g_frame_esr_ec, g_frame_esr_wnr);

    /* FP/SIMD registers across a handler. */
    install(SIGUSR2, on_fp, 0);
    g_hits = 0;
    double d16 = 0, d17 = 0;
    fp_across_signal(&d16, &d17);
    checkf("fp_restored", g_hits == 1 && d16 == 1.5, "%d %.1f", g_hits, d16);
    checkf("fp_from_frame", d17 == 2.5, "%.1f", d17);

    /* Instructions that fault. */
    install(SIGILL, on_fault_jump, 0);
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0)
        ((void (*)(void))lr_udf)();
    checkf("udf_sigill", g_sig == SIGILL && g_code == ILL_ILLOPC, "%d %d", g_sig, g_code);
    check("udf_si_addr_pc", g_addr == (void *)lr_udf);
    install(SIGTRAP, on_fault_jump, 0);
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0)
        ((void (*)(void))lr_brk)();
    checkf("brk_sigtrap", g_sig == SIGTRAP && g_code == TRAP_BRKPT, "%d %d", g_sig, g_code);
    check("brk_si_addr_pc", g_addr == (void *)lr_brk);
    install(SIGBUS, on_fault_jump, 0);
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0)
        ((void (*)(void))(lr_udf + 2))();
    checkf("pc_misaligned_sigbus", g_sig == SIGBUS && g_code == BUS_ADRALN, "%d %d", g_sig, g_code);
    check("pc_misaligned_si_addr", g_addr == (void *)(lr_udf + 2));
}
#endif

int main(void)
{
    /* SIGSEGV: si_code and si_addr, left by siglongjmp. */
    install(SIGSEGV, on_fault_jump, 0);
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + PG, PG);
    int sig = fault_at(m + PG + 77, 0);
    checkf("segv_unmapped", sig == SIGSEGV && g_code == SEGV_MAPERR, "%d %s", sig, segv_code(g_code));
    check("segv_unmapped_addr", g_addr == m + PG + 77);
    mprotect(m, PG, PROT_READ);
    sig = fault_at(m + 5, 1);
    checkf("segv_readonly", sig == SIGSEGV && g_code == SEGV_ACCERR, "%d %s", sig, segv_code(g_code));
    check("segv_readonly_addr", g_addr == m + 5);
    sig = fault_at((volatile char *)16, 0);
    checkf("segv_null_page", sig == SIGSEGV && g_code == SEGV_MAPERR && g_addr == (void *)16, "%s",
           segv_code(g_code));
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    check("segv_unblocked_after_siglongjmp", !sigismember(&cur, SIGSEGV));

    /* SIGSEGV whose handler fixes the mapping: the write is retried and lands. */
    install(SIGSEGV, on_fault_fix, 0);
    g_fix_page = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_hits = 0;
    *(volatile char *)(g_fix_page + 10) = 42;
    checkf("segv_fixed_and_resumed", g_hits == 1 && g_fix_page[10] == 42, "%d", g_hits);
    checkf("segv_fixed_info", g_sig == SIGSEGV && g_code == SEGV_ACCERR && g_addr == g_fix_page + 10, "%s",
           segv_code(g_code));
    munmap(g_fix_page, PG);
    munmap(m, PG);

    /* raise and kill to ourselves. */
    install(SIGUSR1, on_info, 0);
    g_hits = 0;
    check("raise_returns_0", raise(SIGUSR1) == 0);
    checkf("raise_delivered", g_hits == 1 && g_sig == SIGUSR1 && g_code == SI_TKILL && g_addr, "%d %d", g_hits,
           g_code);
    g_hits = 0;
    check("kill_self_returns_0", kill(getpid(), SIGUSR1) == 0);
    checkf("kill_delivered", g_hits == 1 && g_code == SI_USER && g_addr, "%d %d", g_hits, g_code);
    expect_err("kill_bad_signal", kill(getpid(), 65), EINVAL);
    check("kill_signal_0", kill(getpid(), 0) == 0);

    /* Blocked: pending until unmasked, then delivered before sigprocmask returns. */
    sigset_t usr1, old, pend;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    g_hits = 0;
    raise(SIGUSR1);
    sigpending(&pend);
    checkf("blocked_pending", g_hits == 0 && sigismember(&pend, SIGUSR1), "%d", g_hits);
    sigprocmask(SIG_SETMASK, &old, NULL);
    checkf("unmasked_delivered", g_hits == 1, "%d", g_hits);
    sigpending(&pend);
    check("unmasked_not_pending", !sigismember(&pend, SIGUSR1));

    /* sigsuspend with the signal already pending: EINTR after the handler, the old mask
     * back. */
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    raise(SIGUSR1);
    g_hits = 0;
    sigset_t none;
    sigemptyset(&none);
    expect_err("sigsuspend_eintr", sigsuspend(&none), EINTR);
    checkf("sigsuspend_handler_ran", g_hits == 1, "%d", g_hits);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    check("sigsuspend_mask_restored", sigismember(&cur, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* SA_RESETHAND: once, then SIG_DFL; SA_NODEFER: nested delivery of the same signal. */
    install_plain(SIGUSR2, on_plain, SA_RESETHAND);
    g_hits = 0;
    raise(SIGUSR2);
    struct sigaction q;
    sigaction(SIGUSR2, NULL, &q);
    check("resethand_once_then_default", g_hits == 1 && q.sa_handler == SIG_DFL);
    install_plain(SIGUSR2, on_nodefer, SA_NODEFER);
    g_depth = g_max_depth = g_raised = 0;
    raise(SIGUSR2);
    checkf("nodefer_nested", g_max_depth == 2, "%d", g_max_depth);
    install_plain(SIGUSR2, on_nodefer, 0);
    g_depth = g_max_depth = g_raised = 0;
    raise(SIGUSR2);
    checkf("deferred_not_nested", g_max_depth == 1, "%d", g_max_depth);

    /* The alternate stack: a handler with SA_ONSTACK runs there and sees SS_ONSTACK. */
    stack_t ss = {.ss_sp = g_altstack, .ss_size = sizeof g_altstack}, got;
    check("sigaltstack_set", sigaltstack(&ss, NULL) == 0);
    sigaltstack(NULL, &got);
    check("sigaltstack_query", got.ss_sp == g_altstack && got.ss_size == sizeof g_altstack && got.ss_flags == 0);
    stack_t small = {.ss_sp = g_altstack, .ss_size = 1024};
    expect_err("sigaltstack_too_small", sigaltstack(&small, NULL), ENOMEM);
    install_plain(SIGUSR2, on_alt, SA_ONSTACK);
    g_on_alt = g_alt_flags_onstack = 0;
    raise(SIGUSR2);
    check("handler_on_altstack", g_on_alt && g_alt_flags_onstack);
    install_plain(SIGUSR2, on_alt, 0);
    g_on_alt = 1;
    raise(SIGUSR2);
    check("handler_without_onstack_not_on_it", !g_on_alt);
    /* A stack overflow: only the alternate stack has room for the handler. */
    install_plain(SIGSEGV, on_overflow, SA_ONSTACK);
    g_sig = 0;
    g_on_alt = 0;
    if (sigsetjmp(g_jmp, 1) == 0)
        deep(16 * 1024);
    check("overflow_caught_on_altstack", g_sig == SIGSEGV && g_on_alt);
    ss.ss_flags = SS_DISABLE;
    check("sigaltstack_disable", sigaltstack(&ss, NULL) == 0);
    sigaltstack(NULL, &got);
    check("sigaltstack_disabled", got.ss_flags == SS_DISABLE);

#ifdef __aarch64__
    arm64_checks();
#endif

    /* Unwinding through the signal frame. */
    {
        void *warm[4];
        backtrace(warm, 4); /* loads the unwinder before any fault */
    }
    install(SIGSEGV, on_fault_backtrace, 0);
    if (sigsetjmp(g_jmp, 1) == 0)
        caller_function((volatile char *)16);
    check("backtrace_reaches_faulting_function", g_bt_faulting);
    check("backtrace_reaches_its_caller", g_bt_caller);
    return finish();
}
