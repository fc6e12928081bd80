/* CPU-time clocks and timers (issue 27 item 3): CLOCK_PROCESS_CPUTIME_ID,
 * CLOCK_THREAD_CPUTIME_ID and the clocks of clock_getcpuclockid/pthread_getcpuclockid
 * count consumed CPU time; ITIMER_VIRTUAL and ITIMER_PROF fire SIGVTALRM/SIGPROF in a
 * loop without syscalls and getitimer returns what was set; timer_create on CPU-time
 * clocks fires; clock_nanosleep, clock_settime, settimeofday and clock_adjtime answer as
 * Linux. Only robust facts are printed: counts reached within a generous wall-time bound,
 * lower bounds at half of the CPU time a loop measured itself. */
#include "common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t vtalrm, prof, timer_hits, timer_id_ok, timer_value_ok, timer_code_ok;
static timer_t watched;

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (sig == SIGVTALRM)
        vtalrm++;
    else if (sig == SIGPROF)
        prof++;
    else {
        timer_hits++;
        timer_id_ok = si->si_timerid == (int)(long)watched;
        timer_value_ok = si->si_value.sival_int == 4242;
        timer_code_ok = si->si_code == SI_TIMER;
    }
}

static double secs(const struct timespec *t)
{
    return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static double clock_secs(clockid_t c)
{
    struct timespec t = {0, 0};
    if (clock_gettime(c, &t) != 0)
        return -1;
    return secs(&t);
}

static double wall(void)
{
    return clock_secs(CLOCK_MONOTONIC);
}

/* Spin without syscalls until *count reaches want or 20 s of wall time pass (checked
 * every few million iterations: the clock read is the vDSO's). */
static void spin_until(volatile sig_atomic_t *count, int want)
{
    double end = wall() + 20;
    volatile unsigned long x = 0;
    while (*count < want) {
        for (int i = 0; i < 2000000 && *count < want; i++)
            x += i;
        if (wall() > end)
            break;
    }
}

/* Burn `s` seconds of this thread's own CPU time; returns what its clock measured. */
static double burn(double s)
{
    double start = clock_secs(CLOCK_THREAD_CPUTIME_ID), now;
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 1000000; i++)
            x += i;
        now = clock_secs(CLOCK_THREAD_CPUTIME_ID);
    } while (now - start < s);
    return now - start;
}

static double burned_by_thread;

static void *burner(void *arg)
{
    (void)arg;
    burned_by_thread = burn(0.3);
    return NULL;
}

static void itimers(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGVTALRM, &sa, NULL);
    sigaction(SIGPROF, &sa, NULL);

    struct itimerval v = {{0, 20000}, {0, 20000}}, got;
    expect_ok("setitimer_virtual", setitimer(ITIMER_VIRTUAL, &v, NULL));
    expect_ok("getitimer_virtual", getitimer(ITIMER_VIRTUAL, &got));
    checkf("getitimer_virtual_interval", got.it_interval.tv_sec == 0 && got.it_interval.tv_usec == 20000, "%ld.%06ld",
           (long)got.it_interval.tv_sec, (long)got.it_interval.tv_usec);
    /* Linux adds a tick to a CPU timer's first expiry: at most 10 ms for any HZ. */
    check("getitimer_virtual_remaining", got.it_value.tv_sec == 0 && got.it_value.tv_usec > 0 &&
                                             got.it_value.tv_usec <= 30000);
    spin_until(&vtalrm, 3);
    check("sigvtalrm_at_least_3", vtalrm >= 3);
    struct itimerval off = {{0, 0}, {0, 0}};
    expect_ok("setitimer_virtual_off", setitimer(ITIMER_VIRTUAL, &off, &got));
    checkf("setitimer_old_interval", got.it_interval.tv_usec == 20000, "%ld", (long)got.it_interval.tv_usec);
    getitimer(ITIMER_VIRTUAL, &got);
    check("getitimer_virtual_disarmed", got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0 &&
                                            got.it_interval.tv_usec == 0);

    struct itimerval p = {{0, 30000}, {0, 30000}};
    expect_ok("setitimer_prof", setitimer(ITIMER_PROF, &p, NULL));
    getitimer(ITIMER_PROF, &got);
    checkf("getitimer_prof_interval", got.it_interval.tv_usec == 30000, "%ld", (long)got.it_interval.tv_usec);
    spin_until(&prof, 3);
    check("sigprof_at_least_3", prof >= 3);
    setitimer(ITIMER_PROF, &off, NULL);

    struct itimerval bad = {{0, 0}, {0, 1000000}};
    expect_err("setitimer_bad_usec", setitimer(ITIMER_VIRTUAL, &bad, NULL), EINVAL);
    expect_err("getitimer_bad_which", getitimer(7, &got), EINVAL);

    /* Default action: a child whose ITIMER_VIRTUAL expires dies of SIGVTALRM. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGVTALRM, SIG_DFL);
        struct itimerval once = {{0, 0}, {0, 10000}};
        setitimer(ITIMER_VIRTUAL, &once, NULL);
        static volatile sig_atomic_t never;
        spin_until(&never, 1);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    checkf("child_killed_by_sigvtalrm", WIFSIGNALED(status) && WTERMSIG(status) == SIGVTALRM, "%s",
           WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
}

static void cpu_timers(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    static const clockid_t clocks[] = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID};
    static const char *names[] = {"process", "thread"};
    for (int k = 0; k < 2; k++) {
        char name[64];
        struct sigevent ev = {0};
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGUSR1;
        ev.sigev_value.sival_int = 4242;
        snprintf(name, sizeof name, "timer_create_%s", names[k]);
        expect_ok(name, timer_create(clocks[k], &ev, &watched));
        struct itimerspec its = {{0, 10000000}, {0, 10000000}}, cur;
        snprintf(name, sizeof name, "timer_settime_%s", names[k]);
        expect_ok(name, timer_settime(watched, 0, &its, NULL));
        timer_gettime(watched, &cur);
        snprintf(name, sizeof name, "timer_gettime_interval_%s", names[k]);
        checkf(name, cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 10000000, "%ld",
               cur.it_interval.tv_nsec);
        timer_hits = 0;
        spin_until(&timer_hits, 3);
        snprintf(name, sizeof name, "timer_fired_%s", names[k]);
        check(name, timer_hits >= 3);
        snprintf(name, sizeof name, "timer_siginfo_%s", names[k]);
        checkf(name, timer_id_ok && timer_value_ok && timer_code_ok, "id %d value %d code %d", timer_id_ok,
               timer_value_ok, timer_code_ok);
        snprintf(name, sizeof name, "timer_getoverrun_%s", names[k]);
        check(name, timer_getoverrun(watched) >= 0);
        snprintf(name, sizeof name, "timer_delete_%s", names[k]);
        expect_ok(name, timer_delete(watched));
    }
    /* SIGEV_NONE on the process clock: it counts down, and says so. */
    struct sigevent none = {0};
    none.sigev_notify = SIGEV_NONE;
    timer_t quiet;
    expect_ok("timer_create_sigev_none", timer_create(CLOCK_PROCESS_CPUTIME_ID, &none, &quiet));
    struct itimerspec far = {{0, 0}, {100, 0}}, cur;
    timer_settime(quiet, 0, &far, NULL);
    timer_gettime(quiet, &cur);
    check("timer_sigev_none_counts_down", cur.it_value.tv_sec <= 100 && (cur.it_value.tv_sec > 0 || cur.it_value.tv_nsec > 0));
    timer_delete(quiet);
    clockid_t bad_thread = (clockid_t)((~1 << 3) | 6); /* init's thread: not ours */
    expect_err("timer_create_foreign_thread_clock", timer_create(bad_thread, &none, &quiet), EINVAL);
}

static void clocks(void)
{
    struct timespec res;
    expect_ok("getres_process", clock_getres(CLOCK_PROCESS_CPUTIME_ID, &res));
    checkf("getres_process_value", res.tv_sec == 0 && res.tv_nsec == 1, "%ld", res.tv_nsec);
    expect_ok("getres_thread", clock_getres(CLOCK_THREAD_CPUTIME_ID, &res));

    double mine = burn(0.2);
    check("thread_clock_counts_cpu", clock_secs(CLOCK_THREAD_CPUTIME_ID) >= mine * 0.5);
    check("process_clock_counts_cpu", clock_secs(CLOCK_PROCESS_CPUTIME_ID) >= mine * 0.5);

    clockid_t pc;
    expect_ok("clock_getcpuclockid_self", clock_getcpuclockid(getpid(), &pc));
    double a = clock_secs(pc);
    burn(0.05);
    double b = clock_secs(pc);
    check("getcpuclockid_clock_increases", a >= mine * 0.5 && b > a);
    checkf("clock_getcpuclockid_init", clock_getcpuclockid(1, &pc) == 0, "");
    check("init_clock_readable", clock_secs(pc) >= 0);

    /* A child that is gone has no clock. */
    fflush(stdout);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    int gone_err = clock_getcpuclockid(gone, &pc);
    checkf("clock_getcpuclockid_gone", gone_err != 0, "%s", errname(gone_err));

    /* Another thread's clock, read from this one. */
    pthread_t t;
    pthread_create(&t, NULL, burner, NULL);
    pthread_join(t, NULL);
    check("other_thread_burned", burned_by_thread >= 0.3);
    /* pthread_getcpuclockid of a joined thread is undefined: take a live one. */
    clockid_t self_clock;
    expect_ok("pthread_getcpuclockid_self", pthread_getcpuclockid(pthread_self(), &self_clock));
    check("pthread_clock_counts_cpu", clock_secs(self_clock) >= mine * 0.5);
    check("process_has_both_threads", clock_secs(CLOCK_PROCESS_CPUTIME_ID) >= (mine + burned_by_thread) * 0.5);

    struct timespec ts;
    clockid_t foreign = (clockid_t)((~1 << 3) | 6);
    expect_err("gettime_foreign_thread_clock", clock_gettime(foreign, &ts), EINVAL);
    expect_err("gettime_fd_clock", clock_gettime((clockid_t)((~1000 << 3) | 3), &ts), EINVAL);
    expect_err("gettime_bad_clock", clock_gettime(100, &ts), EINVAL);
}

/* A thread that burns CPU while the main thread reads its clock. */
static volatile int stop_spinner;
static void *spinner(void *arg)
{
    (void)arg;
    volatile unsigned long x = 0;
    while (!stop_spinner)
        x++;
    return NULL;
}

static void thread_clock_of_live_thread(void)
{
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    clockid_t c;
    expect_ok("pthread_getcpuclockid_other", pthread_getcpuclockid(t, &c));
    double start = wall(), seen = 0;
    while (wall() - start < 10 && (seen = clock_secs(c)) < 0.1)
        usleep(10000);
    check("other_thread_clock_advances", seen >= 0.1);
    stop_spinner = 1;
    pthread_join(t, NULL);
}

static void sleeps(void)
{
    struct timespec ts = {0, 1000}, past = {0, 1};
    clockid_t own;
    pthread_getcpuclockid(pthread_self(), &own);
    checkf("nanosleep_thread_clock", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL) == EINVAL, "");
    errno = 0;
    long r = syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL);
    checkf("raw_nanosleep_thread_clock", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_nanosleep, own, 0, &ts, NULL);
    checkf("raw_nanosleep_own_thread_clock", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, &ts, NULL);
    checkf("raw_nanosleep_monotonic_raw", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_nanosleep, CLOCK_REALTIME_COARSE, 0, &ts, NULL);
    checkf("raw_nanosleep_realtime_coarse", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_nanosleep, 100, 0, &ts, NULL);
    checkf("raw_nanosleep_bad_clock", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_nanosleep, CLOCK_PROCESS_CPUTIME_ID, 0, (void *)8, NULL);
    checkf("raw_nanosleep_process_efault", r == -1, "%s", errname(errno));
    /* An absolute CPU time already reached: at once. */
    checkf("nanosleep_process_past", clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &past, NULL) == 0, "");
}

static void setting(void)
{
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_REALTIME, &ts);
    expect_err("settime_monotonic", clock_settime(CLOCK_MONOTONIC, &ts), EINVAL);
    expect_err("settime_boottime", clock_settime(CLOCK_BOOTTIME, &ts), EINVAL);
    /* A CPU-time clock is never set: EPERM on older kernels, EINVAL on newer ones. */
    errno = 0;
    long r = clock_settime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    checkf("settime_process_cputime", r == -1, "%s", errname(errno));
    errno = 0;
    r = clock_settime(CLOCK_THREAD_CPUTIME_ID, &ts);
    checkf("settime_thread_cputime", r == -1, "%s", errname(errno));
    clockid_t encoded;
    clock_getcpuclockid(getpid(), &encoded);
    errno = 0;
    r = clock_settime(encoded, &ts);
    checkf("settime_encoded_process_clock", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_settime, CLOCK_PROCESS_CPUTIME_ID, (void *)8);
    checkf("settime_process_cputime_bad_pointer", r == -1, "%s", errname(errno));
    expect_err("settime_bad_clock", clock_settime(100, &ts), EINVAL);
    errno = 0;
    r = syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8);
    checkf("settime_realtime_efault", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_settime, CLOCK_MONOTONIC, (void *)8);
    checkf("settime_monotonic_bad_pointer", r == -1, "%s", errname(errno));
    /* Invalid times are refused before the privilege check: safe even as root. */
    struct timespec bad = {ts.tv_sec, 2000000000};
    expect_err("settime_realtime_bad_nsec", clock_settime(CLOCK_REALTIME, &bad), EINVAL);
    struct timespec negative = {-1, 0};
    expect_err("settime_realtime_negative", clock_settime(CLOCK_REALTIME, &negative), EINVAL);
    struct timeval tv = {1, 2000000};
    expect_err("settimeofday_bad_usec", settimeofday(&tv, NULL), EINVAL);
    errno = 0;
    r = syscall(SYS_settimeofday, (void *)8, NULL);
    checkf("settimeofday_efault", r == -1, "%s", errname(errno));
    /* Neither time nor zone: only the privilege is checked (ok as root, EPERM else). */
    errno = 0;
    r = syscall(SYS_settimeofday, NULL, NULL);
    checkf("settimeofday_nothing", 1, "%s", r == 0 ? "ok" : errname(errno));

    struct timex tx = {0};
    int state = adjtimex(&tx);
    checkf("adjtimex_read", state >= 0, "state %d tick %ld", state, tx.tick);
    memset(&tx, 0, sizeof tx);
    errno = 0;
    r = syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx);
    checkf("clock_adjtime_monotonic", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_adjtime, CLOCK_PROCESS_CPUTIME_ID, &tx);
    checkf("clock_adjtime_cputime", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_clock_adjtime, 100, &tx);
    checkf("clock_adjtime_bad_clock", r == -1, "%s", errname(errno));
    errno = 0;
    r = syscall(SYS_adjtimex, (void *)8);
    checkf("adjtimex_efault", r == -1, "%s", errname(errno));
}

int main(void)
{
    clocks();
    thread_clock_of_live_thread();
    itimers();
    cpu_timers();
    sleeps();
    setting();
    return finish();
}
