/* POSIX timers: timer_create with SIGEV_SIGNAL, SIGEV_NONE and no sigevent, one-shot and
 * periodic expirations taken by handlers and sigwaitinfo, absolute deadlines, gettime,
 * delete, errors, and no inheritance across fork. */
#include "common.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t g_hits;
static volatile int g_code, g_value;

static void on_timer(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    g_hits++;
    g_code = info->si_code;
    g_value = info->si_value.sival_int;
}

static void handle(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO;
    sigaction(sig, &sa, NULL);
}

static timer_t make(int clock, int notify, int sig, int value)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = notify;
    ev.sigev_signo = sig;
    ev.sigev_value.sival_int = value;
    timer_t t;
    if (timer_create(clock, &ev, &t) != 0) {
        printf("timer_create: %s\n", errname(errno));
        exit(1);
    }
    return t;
}

static void arm(timer_t t, int flags, long value_ns, long interval_ns)
{
    struct itimerspec its = {{interval_ns / 1000000000, interval_ns % 1000000000},
                             {value_ns / 1000000000, value_ns % 1000000000}};
    if (timer_settime(t, flags, &its, NULL) != 0)
        printf("timer_settime: %s\n", errname(errno));
}

static void wait_hits(int n)
{
    sigset_t none;
    sigemptyset(&none);
    while (g_hits < n)
        sigsuspend(&none);
}

int main(void)
{
    sigset_t usr;
    sigemptyset(&usr);
    sigaddset(&usr, SIGUSR1);
    sigaddset(&usr, SIGALRM);
    sigprocmask(SIG_BLOCK, &usr, NULL);
    handle(SIGUSR1);
    handle(SIGALRM);

    timer_t one = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 77);
    arm(one, 0, 20 * 1000 * 1000, 0);
    wait_hits(1);
    checkf("one_shot", g_hits == 1 && g_code == SI_TIMER && g_value == 77, "code=%d value=%d", g_code, g_value);
    struct itimerspec cur;
    timer_gettime(one, &cur);
    check("one_shot_disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);

    /* Periodic, taken by sigwaitinfo while blocked. */
    timer_t every = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 5);
    arm(every, 0, 5 * 1000 * 1000, 5 * 1000 * 1000);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, SIGUSR1);
    int taken = 0;
    for (int i = 0; i < 3; i++) {
        siginfo_t info;
        if (sigwaitinfo(&only, &info) == SIGUSR1 && info.si_code == SI_TIMER && info.si_value.sival_int == 5)
            taken++;
    }
    checkf("periodic_sigwaitinfo", taken == 3, "%d", taken);
    check("getoverrun", timer_getoverrun(every) >= 0);
    check("delete", timer_delete(every) == 0);
    expect_err("delete_again", timer_delete(every), EINVAL);

    /* gettime counts down; SIGEV_NONE never signals. */
    timer_t quiet = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
    arm(quiet, 0, 10L * 1000 * 1000 * 1000, 0);
    timer_gettime(quiet, &cur);
    check("gettime_counts_down", cur.it_value.tv_sec == 9 || (cur.it_value.tv_sec == 10 && cur.it_value.tv_nsec == 0));

    /* An absolute CLOCK_REALTIME deadline in the past expires at once; no sigevent means
     * SIGALRM. */
    timer_t rt;
    if (timer_create(CLOCK_REALTIME, NULL, &rt) != 0)
        printf("timer_create(NULL): %s\n", errname(errno));
    g_hits = 0;
    arm(rt, TIMER_ABSTIME, 1000000000L, 0);
    wait_hits(1);
    checkf("abstime_past_sigalrm", g_hits == 1, "hits=%d", g_hits);

    /* Not inherited by a child. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(timer_gettime(quiet, &cur) == -1 && errno == EINVAL ? 0 : 1);
    int st = 0;
    waitpid(pid, &st, 0);
    check("not_inherited", WIFEXITED(st) && WEXITSTATUS(st) == 0);

    struct sigevent bad;
    memset(&bad, 0, sizeof bad);
    bad.sigev_notify = SIGEV_SIGNAL;
    bad.sigev_signo = 99;
    timer_t t;
    expect_err("bad_signal", timer_create(CLOCK_MONOTONIC, &bad, &t), EINVAL);
    expect_err("bad_clock", timer_create(12345, NULL, &t), EINVAL);
    return g_failures != 0;
}
