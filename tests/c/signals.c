/* Signal basics: sigaction install/query/restore, SA_SIGINFO details for raise,
 * kill and tgkill, masks and pending sets, coalescing vs queueing, delivery order,
 * SIG_IGN, SA_RESETHAND, SA_NODEFER, sigqueue values, sigtimedwait, unknown sa_flags bits
 * and a bad oact. */
#include "common.h"
#include <signal.h>
#include <sys/syscall.h>

static volatile int g_hits;
static volatile int g_last_sig;
static volatile int g_last_code;
static volatile int g_last_pid_ok;
static volatile int g_last_value;
static volatile int g_blocked_in_handler;
static char g_order[64];
static volatile int g_order_len;

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_hits++;
    g_last_sig = si->si_signo;
    g_last_code = si->si_code;
    g_last_pid_ok = si->si_pid == getpid() && si->si_uid == getuid();
    g_last_value = si->si_value.sival_int;
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    g_blocked_in_handler = sigismember(&cur, sig);
}

static void on_plain(int sig)
{
    g_hits++;
    g_last_sig = sig;
}

/* Appends a letter per delivered signal, to observe delivery order. */
static void on_order(int sig)
{
    char c = sig == SIGUSR1 ? '1' : sig == SIGUSR2 ? '2' : sig == SIGRTMIN ? 'r' : sig == SIGRTMIN + 1 ? 's' : '?';
    if (g_order_len < 63)
        g_order[g_order_len++] = c;
}

static const char *code_name(int c)
{
    switch (c) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_KERNEL: return "SI_KERNEL";
    default: return "other";
    }
}

int main(void)
{
    struct sigaction sa = {0}, old = {0}, q = {0};
    pid_t pid = getpid();

    /* Query the default disposition, install, query back, restore. */
    check("sigaction_query_default", sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    check("sigaction_install", sigaction(SIGUSR1, &sa, NULL) == 0);
    check("sigaction_query_installed", sigaction(SIGUSR1, NULL, &q) == 0 && q.sa_sigaction == on_info &&
                                       (q.sa_flags & SA_SIGINFO) && sigismember(&q.sa_mask, SIGUSR2));
    expect_err("sigaction_sigkill", sigaction(SIGKILL, &sa, NULL), EINVAL);
    expect_err("sigaction_sigstop", sigaction(SIGSTOP, &sa, NULL), EINVAL);
    expect_err("sigaction_bad_signo", sigaction(65, &sa, NULL), EINVAL);
    expect_err("rt_sigaction_bad_sigsetsize", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &q, 4), EINVAL);
    {
        /* The kernel's struct, raw: Linux drops flag bits it does not know (SA_UNSUPPORTED
         * 0x400 and 0x100000 here), and a bad oact is EFAULT with the new action set. */
        struct { unsigned long handler, flags, restorer, mask; } k = {(unsigned long)SIG_IGN, 0x400 | 0x100000 | SA_RESTART, 0, 0}, ko = {0};
        syscall(SYS_rt_sigaction, SIGURG, &k, NULL, 8);
        syscall(SYS_rt_sigaction, SIGURG, NULL, &ko, 8);
        checkf("sigaction_unknown_flags_dropped", ko.flags == SA_RESTART, "%#lx", ko.flags);
        k.handler = (unsigned long)SIG_DFL;
        expect_err("sigaction_bad_oact", syscall(SYS_rt_sigaction, SIGURG, &k, (void *)8, 8), EFAULT);
        syscall(SYS_rt_sigaction, SIGURG, NULL, &ko, 8);
        check("sigaction_set_despite_bad_oact", ko.handler == (unsigned long)SIG_DFL);
    }

    /* raise() is tgkill under glibc: si_code SI_TKILL, sender is us. */
    g_hits = 0;
    check("raise_usr1", raise(SIGUSR1) == 0);
    checkf("raise_delivered", g_hits == 1, "%d", g_hits);
    checkf("raise_signo", g_last_sig == SIGUSR1, "%d", g_last_sig);
    checkf("raise_code", g_last_code == SI_TKILL, "%s", code_name(g_last_code));
    check("raise_sender_is_self", g_last_pid_ok);
    check("signal_blocked_during_handler", g_blocked_in_handler);

    /* kill(): SI_USER. */
    sigaction(SIGUSR2, &sa, NULL);
    g_hits = 0;
    check("kill_self_usr2", kill(pid, SIGUSR2) == 0);
    checkf("kill_delivered", g_hits == 1, "%d", g_hits);
    checkf("kill_code", g_last_code == SI_USER, "%s", code_name(g_last_code));
    check("kill_sender_is_self", g_last_pid_ok);
    check("kill_sig0_exists", kill(pid, 0) == 0);
    expect_err("kill_bad_signal", kill(pid, 1000), EINVAL);
    expect_err("kill_missing_pid", kill(0x3fffffff, SIGUSR1), ESRCH);

    /* tgkill to our own thread. */
    g_hits = 0;
    check("tgkill_self", syscall(SYS_tgkill, pid, syscall(SYS_gettid), SIGUSR1) == 0);
    checkf("tgkill_delivered", g_hits == 1, "%d", g_hits);
    checkf("tgkill_code", g_last_code == SI_TKILL, "%s", code_name(g_last_code));
    expect_err("tgkill_wrong_tgid", syscall(SYS_tgkill, 0x3fffffff, syscall(SYS_gettid), SIGUSR1), ESRCH);
    expect_err("tkill_bad_tid", syscall(SYS_tkill, -5, SIGUSR1), EINVAL);

    /* sigqueue carries a value and SI_QUEUE. */
    g_hits = 0;
    union sigval v = {.sival_int = 4242};
    check("sigqueue", sigqueue(pid, SIGUSR1, v) == 0);
    checkf("sigqueue_code", g_last_code == SI_QUEUE, "%s", code_name(g_last_code));
    checkf("sigqueue_value", g_last_value == 4242, "%d", g_last_value);

    /* Block, raise, see it pending, unblock: delivered exactly then. */
    sigset_t blk, oldmask, pend;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    check("sigprocmask_block", sigprocmask(SIG_BLOCK, &blk, &oldmask) == 0);
    check("oldmask_empty", !sigismember(&oldmask, SIGUSR1));
    g_hits = 0;
    raise(SIGUSR1);
    raise(SIGUSR1); /* standard signals coalesce */
    checkf("blocked_not_delivered", g_hits == 0, "%d", g_hits);
    sigpending(&pend);
    check("sigpending_shows_usr1", sigismember(&pend, SIGUSR1));
    check("sigpending_not_usr2", !sigismember(&pend, SIGUSR2));
    check("sigprocmask_unblock", sigprocmask(SIG_UNBLOCK, &blk, NULL) == 0);
    checkf("unblock_delivers_once", g_hits == 1, "%d", g_hits);
    sigpending(&pend);
    check("sigpending_cleared", !sigismember(&pend, SIGUSR1));
    /* SIGKILL/SIGSTOP can't be blocked: silently dropped from the mask. */
    sigset_t all, got;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &oldmask);
    sigprocmask(SIG_SETMASK, NULL, &got);
    check("cannot_block_sigkill", !sigismember(&got, SIGKILL) && !sigismember(&got, SIGSTOP));
    check("blocked_everything_else", sigismember(&got, SIGUSR1) && sigismember(&got, SIGRTMAX));
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    expect_err("sigprocmask_bad_how", sigprocmask(99, &blk, NULL), EINVAL);

    /* Real-time signals queue; standard ones coalesce. Delivery order when all are
     * released at once: handler blocks everything, so it's the kernel's dequeue order:
     * standard signals first, lowest number first, then each queued RT instance. */
    struct sigaction so = {0};
    so.sa_handler = on_order;
    sigfillset(&so.sa_mask);
    sigaction(SIGUSR1, &so, NULL);
    sigaction(SIGUSR2, &so, NULL);
    sigaction(SIGRTMIN, &so, NULL);
    sigaction(SIGRTMIN + 1, &so, NULL);
    sigset_t four;
    sigemptyset(&four);
    sigaddset(&four, SIGUSR1);
    sigaddset(&four, SIGUSR2);
    sigaddset(&four, SIGRTMIN);
    sigaddset(&four, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &four, NULL);
    raise(SIGRTMIN + 1);
    raise(SIGUSR2);
    raise(SIGRTMIN);
    raise(SIGUSR1);
    raise(SIGRTMIN + 1);
    raise(SIGUSR2);
    raise(SIGRTMIN);
    g_order_len = 0;
    sigprocmask(SIG_UNBLOCK, &four, NULL);
    g_order[g_order_len] = 0;
    checkf("delivery_order_masked_handler", !strcmp(g_order, "12rrss"), "%s", g_order);

    /* Same but the handler blocks nothing extra: later signals nest into earlier
     * handlers: Linux sets up all four frames before returning to user mode, so
     * the last one set up (highest number) runs first: reversed order. */
    so.sa_flags = 0;
    sigemptyset(&so.sa_mask);
    sigaction(SIGUSR1, &so, NULL);
    sigaction(SIGUSR2, &so, NULL);
    sigaction(SIGRTMIN, &so, NULL);
    sigaction(SIGRTMIN + 1, &so, NULL);
    sigprocmask(SIG_BLOCK, &four, NULL);
    raise(SIGRTMIN + 1);
    raise(SIGUSR2);
    raise(SIGRTMIN);
    raise(SIGUSR1);
    g_order_len = 0;
    sigprocmask(SIG_UNBLOCK, &four, NULL);
    g_order[g_order_len] = 0;
    checkf("delivery_order_unmasked_handler", !strcmp(g_order, "sr21"), "%s", g_order);

    /* SIG_IGN: raising does nothing. But Linux queues an ignored signal while it is
     * blocked (the disposition could change before unblock), so it does show in
     * sigpending; unblocking then discards it. */
    signal(SIGUSR1, SIG_IGN);
    check("sig_ign_raise", raise(SIGUSR1) == 0);
    sigpending(&pend);
    check("sig_ign_unblocked_not_pending", !sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_BLOCK, &blk, NULL);
    raise(SIGUSR1);
    sigpending(&pend);
    checkf("sig_ign_blocked_pending", sigismember(&pend, SIGUSR1), "%s", sigismember(&pend, SIGUSR1) ? "pending" : "not pending");
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    sigpending(&pend);
    check("sig_ign_discarded_on_unblock", !sigismember(&pend, SIGUSR1));
    /* Setting SIG_IGN discards an already pending signal. */
    signal(SIGUSR1, on_plain);
    sigprocmask(SIG_BLOCK, &blk, NULL);
    raise(SIGUSR1);
    signal(SIGUSR1, SIG_IGN);
    sigpending(&pend);
    check("sig_ign_set_discards_pending", !sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &blk, NULL);
    /* SIGCHLD and SIGWINCH default to ignore. */
    check("sigchld_default_ignored", raise(SIGCHLD) == 0 && raise(SIGWINCH) == 0 && raise(SIGURG) == 0);

    /* SA_RESETHAND: one delivery, then back to SIG_DFL. */
    struct sigaction sr = {0};
    sr.sa_handler = on_plain;
    sr.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR2, &sr, NULL);
    g_hits = 0;
    raise(SIGUSR2);
    sigaction(SIGUSR2, NULL, &q);
    check("sa_resethand_fired", g_hits == 1);
    check("sa_resethand_reset", q.sa_handler == SIG_DFL);

    /* signal() (BSD semantics in glibc) keeps the handler installed. */
    signal(SIGUSR2, on_plain);
    g_hits = 0;
    raise(SIGUSR2);
    raise(SIGUSR2);
    checkf("signal_handler_persistent", g_hits == 2, "%d", g_hits);

    /* sigtimedwait takes a pending blocked signal without running the handler. */
    sigprocmask(SIG_BLOCK, &blk, NULL);
    signal(SIGUSR1, on_plain);
    g_hits = 0;
    sigqueue(pid, SIGUSR1, v);
    siginfo_t si;
    struct timespec ts = {0, 0};
    int got_sig = sigtimedwait(&blk, &si, &ts);
    checkf("sigtimedwait_got", got_sig == SIGUSR1, "%d", got_sig);
    check("sigtimedwait_info", si.si_code == SI_QUEUE && si.si_value.sival_int == 4242);
    check("sigtimedwait_no_handler", g_hits == 0);
    struct timespec ts10 = {0, 10 * 1000000};
    expect_err("sigtimedwait_timeout", sigtimedwait(&blk, &si, &ts10), EAGAIN);
    sigprocmask(SIG_UNBLOCK, &blk, NULL);

    /* Restore the original disposition from the first query. */
    check("sigaction_restore", sigaction(SIGUSR1, &old, NULL) == 0);
    sigaction(SIGUSR1, NULL, &q);
    check("sigaction_restored_dfl", q.sa_handler == SIG_DFL);
    return finish();
}
