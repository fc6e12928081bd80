/* A process's own timers interrupt it wherever it is, as on Linux: a loop without
 * syscalls gets alarm's, setitimer's and a POSIX timer's signal; SIGALRM's default action
 * ends such a loop; a read blocked on an empty pipe fails with EINTR (or restarts with
 * SA_RESTART) when the alarm goes off; pause() returns EINTR once the handler ran. */
#include "common.h"

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t g_hits;

static void on_signal(int sig)
{
    (void)sig;
    g_hits++;
}

static void handle(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = flags;
    sigaction(sig, &sa, NULL);
}

/* Spin without syscalls until `n` hits, giving up after a long while (a bound on work,
 * not on time, so a hang shows as a failed check rather than a stuck test). */
static int spin_until(int n)
{
    for (unsigned long i = 0; i < 400000000000UL; i++) {
        if (g_hits >= n)
            return 1;
        __asm__ volatile("" ::: "memory");
    }
    return 0;
}

static void itimer(long first_us, long interval_us)
{
    struct itimerval it = {{interval_us / 1000000, interval_us % 1000000}, {first_us / 1000000, first_us % 1000000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);

    handle(SIGALRM, 0);
    g_hits = 0;
    itimer(20000, 0);
    check("one-shot itimer in a busy loop", spin_until(1));

    g_hits = 0;
    itimer(5000, 5000);
    check("periodic itimer in a busy loop", spin_until(5));
    itimer(0, 0);

    g_hits = 0;
    alarm(1);
    check("alarm in a busy loop", spin_until(1));

    /* pause() waits for the handler, then fails with EINTR. */
    g_hits = 0;
    itimer(20000, 0);
    errno = 0;
    int paused = pause();
    printf("pause: %d %s hits %d\n", paused, errname(errno), (int)g_hits);

    /* A POSIX timer with its own signal. */
    handle(SIGUSR1, 0);
    g_hits = 0;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    timer_t t;
    timer_create(CLOCK_MONOTONIC, &ev, &t);
    struct itimerspec its = {{0, 0}, {0, 30000000}};
    timer_settime(t, 0, &its, NULL);
    check("posix timer in a busy loop", spin_until(1));
    timer_delete(t);

    /* The default action of SIGALRM ends a busy loop. */
    pid_t child = fork();
    if (child == 0) {
        signal(SIGALRM, SIG_DFL);
        g_hits = 0;
        itimer(20000, 0);
        spin_until(1);
        _exit(3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("default action: signaled %d sig %d\n", WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);

    /* A read blocked on an empty pipe: EINTR without SA_RESTART. The timer repeats: on a
     * busy machine its first expiry may come before the read starts (then the handler
     * runs there and the read would wait for ever), and the next one interrupts it. */
    int p[2];
    pipe(p);
    handle(SIGALRM, 0);
    g_hits = 0;
    itimer(30000, 30000);
    char c;
    long r = read(p[0], &c, 1);
    itimer(0, 0);
    printf("blocked read: %ld %s handled %s\n", r, r < 0 ? errname(errno) : "-", g_hits >= 1 ? "yes" : "no");

    /* ...and with SA_RESTART it goes on until the data comes. */
    handle(SIGALRM, SA_RESTART);
    g_hits = 0;
    child = fork();
    if (child == 0) {
        usleep(200000);
        write(p[1], "x", 1);
        _exit(0);
    }
    itimer(30000, 0);
    r = read(p[0], &c, 1);
    printf("restarted read: %ld hits %d\n", r, (int)g_hits);
    waitpid(child, NULL, 0);
    return g_failures ? 1 : 0;
}
