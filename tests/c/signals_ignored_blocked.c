/* Linux details of signal state: a signal that is both blocked and ignored stays pending
 * when another process sends it (sigpending shows it, sigtimedwait takes it), while an
 * ignored one that is not blocked is dropped; SA_RESETHAND resets only the handler, the
 * other flags and the mask stay. */
#include "common.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile int handled;
static void on_usr1(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    (void)ctx;
    handled++;
}

/* A child sends `sig` to us and exits; we reap it, so the signal has arrived. */
static void sent_by_child(int sig)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        kill(parent, sig);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    /* Give a signal from another process time to be taken before we look. */
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    /* Ignored and blocked: kept pending, then taken by sigtimedwait. */
    signal(SIGUSR2, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sent_by_child(SIGUSR2);
    sigset_t pending;
    sigpending(&pending);
    check("ignored_blocked_from_other_process_pending", sigismember(&pending, SIGUSR2));
    struct timespec zero = {0, 0};
    checkf("ignored_blocked_taken_by_sigtimedwait", sigtimedwait(&set, NULL, &zero) == SIGUSR2, "%s", strerror(errno));
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    /* Ignored and not blocked: dropped. */
    sent_by_child(SIGUSR2);
    sigpending(&pending);
    check("ignored_unblocked_dropped", !sigismember(&pending, SIGUSR2));

    /* Blocked and ignored, then unblocked: the pending one is discarded on delivery. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    sent_by_child(SIGUSR2);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    sigpending(&pending);
    check("ignored_unblocked_later_gone", !sigismember(&pending, SIGUSR2));

    /* SA_RESETHAND keeps SA_SIGINFO, its own flag and the mask. */
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    sigaction(SIGUSR1, NULL, &now);
    check("resethand_handler_ran", handled == 1);
    check("resethand_handler_reset", now.sa_handler == SIG_DFL);
    checkf("resethand_flags_kept", (now.sa_flags & (SA_SIGINFO | SA_RESETHAND | SA_RESTART)) == (SA_SIGINFO | SA_RESETHAND | SA_RESTART),
           "%#x", now.sa_flags & (SA_SIGINFO | SA_RESETHAND | SA_RESTART));
    check("resethand_mask_kept", sigismember(&now.sa_mask, SIGTERM));
    return finish();
}
