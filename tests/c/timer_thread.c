/* POSIX timers that name a thread: SIGEV_THREAD_ID sends the timer's signal to that thread
 * only (a handler records which thread ran it, though every thread takes the signal), and
 * glibc's SIGEV_THREAD timers (a helper thread waits for SIGTIMER, whose default action
 * would end the process if another thread got it) call their function again and again.
 * Counts are not printed: only that enough callbacks came within 5 s. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static long tid(void) { return syscall(SYS_gettid); }

static atomic_long handled_by;
static atomic_int worker_tid;
static atomic_int stop;

static void on_usr2(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (si->si_code == SI_TIMER && si->si_value.sival_int == 42)
        atomic_store(&handled_by, tid());
}

static void *worker(void *arg)
{
    (void)arg;
    atomic_store(&worker_tid, (int)tid());
    while (!atomic_load(&stop))
        usleep(1000);
    return NULL;
}

static void thread_id_timer(void)
{
    struct sigaction sa = {.sa_sigaction = on_usr2, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR2, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    while (!atomic_load(&worker_tid))
        usleep(1000);
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR2;
    ev.sigev_value.sival_int = 42;
    ev.sigev_notify_thread_id = atomic_load(&worker_tid);
    timer_t timer;
    expect_ok("create_thread_id", timer_create(CLOCK_MONOTONIC, &ev, &timer));
    struct itimerspec it = {.it_value = {0, 20 * 1000 * 1000}};
    expect_ok("settime_thread_id", timer_settime(timer, 0, &it, NULL));
    /* main keeps running (and taking signals) meanwhile. */
    for (int i = 0; i < 5000 && !atomic_load(&handled_by); i++)
        usleep(1000);
    check("signal_went_to_named_thread", atomic_load(&handled_by) == atomic_load(&worker_tid));
    timer_delete(timer);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);

    ev.sigev_notify_thread_id = 1 << 30;
    expect_err("thread_id_unknown", timer_create(CLOCK_MONOTONIC, &ev, &timer), EINVAL);
}

static atomic_int callbacks;
static void on_expiry(union sigval v)
{
    if (v.sival_int == 7)
        atomic_fetch_add(&callbacks, 1);
}

static void sigev_thread_timer(void)
{
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_expiry;
    ev.sigev_value.sival_int = 7;
    timer_t timer;
    expect_ok("create_sigev_thread", timer_create(CLOCK_MONOTONIC, &ev, &timer));
    struct itimerspec it = {.it_value = {0, 10 * 1000 * 1000}, .it_interval = {0, 10 * 1000 * 1000}};
    expect_ok("settime_sigev_thread", timer_settime(timer, 0, &it, NULL));
    for (int i = 0; i < 5000 && atomic_load(&callbacks) < 5; i++)
        usleep(1000);
    check("sigev_thread_callbacks", atomic_load(&callbacks) >= 5);
    expect_ok("delete_sigev_thread", timer_delete(timer));
}

int main(void)
{
    thread_id_timer();
    sigev_thread_timer();
    return finish();
}
