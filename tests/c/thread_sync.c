/* pthread synchronisation between real threads: mutex kinds (normal, recursive,
 * error-checking), a contended counter with an exact total, condition variables
 * (signal, broadcast, timed waits that time out on both clocks), rwlocks, barriers,
 * POSIX semaphores and spinlocks. Every blocking wait that could hang on a broken
 * futex is ended by the other side's progress, never by timing. */
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timespec abs_in(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

/* --- run a function in another thread and return its int result --- */
struct call {
    int (*fn)(void *);
    void *arg;
    int result;
};
static void *call_fn(void *p)
{
    struct call *c = p;
    c->result = c->fn(c->arg);
    return NULL;
}
static int in_thread(int (*fn)(void *), void *arg)
{
    struct call c = {fn, arg, -1};
    pthread_t t;
    if (pthread_create(&t, NULL, call_fn, &c) != 0)
        return -2;
    pthread_join(t, NULL);
    return c.result;
}
static int do_trylock(void *m) { return pthread_mutex_trylock(m); }
static int do_unlock(void *m) { return pthread_mutex_unlock(m); }

/* --- contended counter --- */
#define COUNTER_THREADS 4
#define COUNTER_ITERS 250000
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long counter;
static void *counter_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < COUNTER_ITERS; i++) {
        pthread_mutex_lock(&counter_lock);
        /* A non-atomic read-modify-write: lost updates show if exclusion fails. */
        unsigned long v = counter;
        __asm__ volatile("" ::: "memory");
        counter = v + 1;
        pthread_mutex_unlock(&counter_lock);
    }
    return NULL;
}

/* --- condition variables --- */
static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int queue_items[16], queue_len, produced_done, waiting, go, woken;
static unsigned long consumed_sum;
static int consumed_count;
static void *consumer_fn(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cv_lock);
    for (;;) {
        while (queue_len == 0 && !produced_done)
            pthread_cond_wait(&cv, &cv_lock);
        if (queue_len == 0 && produced_done)
            break;
        consumed_sum += queue_items[--queue_len];
        consumed_count++;
        pthread_cond_broadcast(&cv); /* room for the producer */
    }
    pthread_mutex_unlock(&cv_lock);
    return NULL;
}
static void *broadcast_waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cv_lock);
    waiting++;
    pthread_cond_broadcast(&cv); /* tell main one more waiter is in */
    while (!go)
        pthread_cond_wait(&cv, &cv_lock);
    woken++;
    pthread_mutex_unlock(&cv_lock);
    return NULL;
}

/* --- rwlock --- */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t rw_barrier;
/* Try, and give the lock back if that worked. */
static int do_tryrdlock(void *p)
{
    int rc = pthread_rwlock_tryrdlock(p);
    if (rc == 0)
        pthread_rwlock_unlock(p);
    return rc;
}
static int do_trywrlock(void *p)
{
    int rc = pthread_rwlock_trywrlock(p);
    if (rc == 0)
        pthread_rwlock_unlock(p);
    return rc;
}
static void *reader_fn(void *arg)
{
    (void)arg;
    pthread_rwlock_rdlock(&rw);
    /* Both readers are inside together: a rwlock that excluded readers would deadlock
     * here, so wait on the barrier only with a read lock that allows sharing. */
    int r = pthread_barrier_wait(&rw_barrier);
    pthread_barrier_wait(&rw_barrier); /* main checks trywrlock in between */
    pthread_rwlock_unlock(&rw);
    return (void *)(uintptr_t)(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
}
static unsigned long rw_counter;
static void *writer_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        if (i % 4 == 0) {
            pthread_rwlock_wrlock(&rw);
            unsigned long v = rw_counter;
            __asm__ volatile("" ::: "memory");
            rw_counter = v + 1;
        } else {
            pthread_rwlock_rdlock(&rw);
            volatile unsigned long v = rw_counter;
            (void)v;
        }
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

/* --- barrier --- */
#define BARRIER_THREADS 4
#define BARRIER_ROUNDS 200
static pthread_barrier_t barrier;
static int serial_count, round_errors;
static int round_seen[BARRIER_THREADS];
static void *barrier_fn(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    for (int r = 0; r < BARRIER_ROUNDS; r++) {
        __atomic_store_n(&round_seen[i], r, __ATOMIC_SEQ_CST);
        int rc = pthread_barrier_wait(&barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serial_count, 1, __ATOMIC_SEQ_CST);
        else if (rc != 0)
            __atomic_fetch_add(&round_errors, 1, __ATOMIC_SEQ_CST);
        /* After the barrier every thread has reached round r. */
        for (int k = 0; k < BARRIER_THREADS; k++)
            if (__atomic_load_n(&round_seen[k], __ATOMIC_SEQ_CST) < r)
                __atomic_fetch_add(&round_errors, 1, __ATOMIC_SEQ_CST);
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

/* --- semaphores --- */
static sem_t ping, pong;
static void *pong_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        sem_wait(&ping);
        sem_post(&pong);
    }
    return NULL;
}
static sem_t counting;
static int sem_taken;
static void *sem_taker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 250; i++) {
        sem_wait(&counting);
        __atomic_fetch_add(&sem_taken, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* --- spinlock --- */
static pthread_spinlock_t spin;
static unsigned long spin_counter;
static void *spin_fn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        pthread_spin_lock(&spin);
        unsigned long v = spin_counter;
        __asm__ volatile("" ::: "memory");
        spin_counter = v + 1;
        pthread_spin_unlock(&spin);
    }
    return NULL;
}
static int do_spin_trylock(void *p) { return pthread_spin_trylock(p); }

int main(void)
{
    /* Normal mutex: another thread cannot take it while held. */
    {
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&m);
        expect_rc("normal_trylock_other_thread", in_thread(do_trylock, &m), EBUSY);
        pthread_mutex_unlock(&m);
        expect_rc("normal_trylock_after_unlock", in_thread(do_trylock, &m), 0);
        /* The other thread exited holding it: a normal mutex stays locked. */
        expect_rc("normal_trylock_left_locked", pthread_mutex_trylock(&m), EBUSY);
    }

    /* Recursive mutex. */
    {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_t m;
        pthread_mutex_init(&m, &a);
        int ok = 1;
        for (int i = 0; i < 3; i++)
            ok &= pthread_mutex_lock(&m) == 0;
        ok &= pthread_mutex_trylock(&m) == 0;
        check("recursive_lock_4_times", ok);
        expect_rc("recursive_trylock_other_thread", in_thread(do_trylock, &m), EBUSY);
        expect_rc("recursive_unlock_other_thread", in_thread(do_unlock, &m), EPERM);
        ok = 1;
        for (int i = 0; i < 4; i++)
            ok &= pthread_mutex_unlock(&m) == 0;
        check("recursive_unlock_4_times", ok);
        expect_rc("recursive_unlock_unowned", pthread_mutex_unlock(&m), EPERM);
        expect_rc("recursive_free_for_other_thread", in_thread(do_trylock, &m), 0);
        pthread_mutexattr_destroy(&a);
    }

    /* Error-checking mutex. */
    {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
        pthread_mutex_t m;
        pthread_mutex_init(&m, &a);
        expect_rc("errorcheck_lock", pthread_mutex_lock(&m), 0);
        expect_rc("errorcheck_relock", pthread_mutex_lock(&m), EDEADLK);
        expect_rc("errorcheck_unlock_other_thread", in_thread(do_unlock, &m), EPERM);
        expect_rc("errorcheck_trylock_other_thread", in_thread(do_trylock, &m), EBUSY);
        expect_rc("errorcheck_unlock", pthread_mutex_unlock(&m), 0);
        expect_rc("errorcheck_unlock_unlocked", pthread_mutex_unlock(&m), EPERM);
        pthread_mutexattr_destroy(&a);
    }

    /* 4 threads x 250000 increments under one mutex. */
    {
        pthread_t t[COUNTER_THREADS];
        for (int i = 0; i < COUNTER_THREADS; i++)
            pthread_create(&t[i], NULL, counter_fn, NULL);
        for (int i = 0; i < COUNTER_THREADS; i++)
            pthread_join(t[i], NULL);
        checkf("mutex_counter", counter == (unsigned long)COUNTER_THREADS * COUNTER_ITERS, "%lu", counter);
    }

    /* Condition variable: a bounded queue, one producer (main), three consumers. */
    {
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&t[i], NULL, consumer_fn, NULL);
        unsigned long want = 0;
        for (int i = 1; i <= 5000; i++) {
            pthread_mutex_lock(&cv_lock);
            while (queue_len == 16)
                pthread_cond_wait(&cv, &cv_lock);
            queue_items[queue_len++] = i;
            want += i;
            pthread_cond_signal(&cv);
            pthread_mutex_unlock(&cv_lock);
        }
        pthread_mutex_lock(&cv_lock);
        produced_done = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&cv_lock);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        checkf("cond_queue_count", consumed_count == 5000, "%d", consumed_count);
        check("cond_queue_sum", consumed_sum == want);
    }

    /* Broadcast wakes every waiter. */
    {
        pthread_t t[6];
        for (int i = 0; i < 6; i++)
            pthread_create(&t[i], NULL, broadcast_waiter, NULL);
        pthread_mutex_lock(&cv_lock);
        while (waiting < 6)
            pthread_cond_wait(&cv, &cv_lock);
        go = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&cv_lock);
        for (int i = 0; i < 6; i++)
            pthread_join(t[i], NULL);
        checkf("cond_broadcast_woken", woken == 6, "%d", woken);
    }

    /* Timed waits that nobody signals: ETIMEDOUT, not early, the mutex held again. */
    {
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t c = PTHREAD_COND_INITIALIZER;
        pthread_mutex_lock(&m);
        struct timespec dl = abs_in(CLOCK_REALTIME, 50);
        double t0 = now_mono();
        int rc = pthread_cond_timedwait(&c, &m, &dl);
        double el = now_mono() - t0;
        expect_rc("cond_timedwait_realtime", rc, ETIMEDOUT);
        check("cond_timedwait_realtime_not_early", el >= 0.045);
        expect_rc("cond_timedwait_mutex_held", in_thread(do_trylock, &m), EBUSY);
        pthread_mutex_unlock(&m);

        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_t cm;
        pthread_cond_init(&cm, &ca);
        pthread_mutex_lock(&m);
        dl = abs_in(CLOCK_MONOTONIC, 50);
        t0 = now_mono();
        rc = pthread_cond_timedwait(&cm, &m, &dl);
        el = now_mono() - t0;
        expect_rc("cond_timedwait_monotonic", rc, ETIMEDOUT);
        check("cond_timedwait_monotonic_not_early", el >= 0.045);
        /* A deadline in the past times out at once. */
        dl.tv_sec -= 10;
        expect_rc("cond_timedwait_past", pthread_cond_timedwait(&cm, &m, &dl), ETIMEDOUT);
        pthread_mutex_unlock(&m);
        pthread_cond_destroy(&cm);
        pthread_condattr_destroy(&ca);
    }

    /* rwlock: readers share, a writer excludes, writers count exactly. */
    {
        pthread_barrier_init(&rw_barrier, NULL, 3);
        pthread_t r[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&r[i], NULL, reader_fn, NULL);
        pthread_barrier_wait(&rw_barrier); /* both readers hold the read lock now */
        expect_rc("rwlock_trywrlock_while_read", pthread_rwlock_trywrlock(&rw), EBUSY);
        expect_rc("rwlock_tryrdlock_while_read", in_thread(do_tryrdlock, &rw), 0);
        pthread_barrier_wait(&rw_barrier);
        int both = 1;
        for (int i = 0; i < 2; i++) {
            void *v;
            pthread_join(r[i], &v);
            both &= (uintptr_t)v == 1;
        }
        check("rwlock_readers_shared", both);
        pthread_barrier_destroy(&rw_barrier);
    }
    {
        pthread_rwlock_t w = PTHREAD_RWLOCK_INITIALIZER;
        pthread_rwlock_wrlock(&w);
        expect_rc("rwlock_tryrdlock_while_written", in_thread(do_tryrdlock, &w), EBUSY);
        expect_rc("rwlock_trywrlock_while_written", in_thread(do_trywrlock, &w), EBUSY);
        pthread_rwlock_unlock(&w);
        expect_rc("rwlock_trywrlock_free", in_thread(do_trywrlock, &w), 0);
    }
    {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, writer_fn, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        checkf("rwlock_counter", rw_counter == 4 * 5000, "%lu", rw_counter);
    }

    /* Barrier: exactly one serial thread per round, nobody passes early. */
    {
        pthread_barrier_init(&barrier, NULL, BARRIER_THREADS);
        pthread_t t[BARRIER_THREADS];
        for (uintptr_t i = 0; i < BARRIER_THREADS; i++)
            pthread_create(&t[i], NULL, barrier_fn, (void *)i);
        for (int i = 0; i < BARRIER_THREADS; i++)
            pthread_join(t[i], NULL);
        checkf("barrier_serial_once_per_round", serial_count == BARRIER_ROUNDS, "%d", serial_count);
        checkf("barrier_no_early_pass", round_errors == 0, "%d", round_errors);
        pthread_barrier_destroy(&barrier);
    }

    /* Semaphores: ping-pong, a counting semaphore shared by takers, timed and try waits. */
    {
        sem_init(&ping, 0, 0);
        sem_init(&pong, 0, 0);
        pthread_t t;
        pthread_create(&t, NULL, pong_fn, NULL);
        int ok = 1;
        for (int i = 0; i < 10000; i++) {
            ok &= sem_post(&ping) == 0;
            ok &= sem_wait(&pong) == 0;
        }
        pthread_join(t, NULL);
        check("sem_ping_pong_10000", ok);

        sem_init(&counting, 0, 0);
        pthread_t tk[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&tk[i], NULL, sem_taker, NULL);
        for (int i = 0; i < 1000; i++)
            sem_post(&counting);
        for (int i = 0; i < 4; i++)
            pthread_join(tk[i], NULL);
        int v = -1;
        sem_getvalue(&counting, &v);
        checkf("sem_counting_taken", sem_taken == 1000 && v == 0, "%d left %d", sem_taken, v);

        expect_err("sem_trywait_empty", sem_trywait(&counting), EAGAIN);
        struct timespec dl = abs_in(CLOCK_REALTIME, 30);
        double t0 = now_mono();
        expect_err("sem_timedwait", sem_timedwait(&counting, &dl), ETIMEDOUT);
        check("sem_timedwait_not_early", now_mono() - t0 >= 0.025);
        sem_post(&counting);
        sem_post(&counting);
        sem_getvalue(&counting, &v);
        checkf("sem_getvalue", v == 2, "%d", v);
        expect_ok("sem_trywait_full", sem_trywait(&counting));
    }

    /* Spinlock. */
    {
        pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, spin_fn, NULL);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        checkf("spin_counter", spin_counter == 200000, "%lu", spin_counter);
        pthread_spin_lock(&spin);
        expect_rc("spin_trylock_held", in_thread(do_spin_trylock, (void *)&spin), EBUSY);
        pthread_spin_unlock(&spin);
        expect_rc("spin_trylock_free", pthread_spin_trylock(&spin), 0);
        pthread_spin_unlock(&spin);
        pthread_spin_destroy(&spin);
    }

    return finish();
}
