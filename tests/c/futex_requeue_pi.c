/* FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI, raw: a condition variable's waiters
 * handed to a priority-inheritance lock. One waiter gets a free lock from the requeue
 * itself; with the lock held, all are requeued and take it one by one as it is unlocked
 * (mutual exclusion checked, each returns owning it). The argument checks (EINVAL for the
 * same address, a misaligned lock, nr_wake != 1, a negative count; EAGAIN for a changed
 * word; ENOSYS for FUTEX_CLOCK_REALTIME on the requeue), the mixing rules (a plain wake or
 * requeue of a requeue-PI waiter, a requeue-PI of a plain waiter or to another lock:
 * EINVAL; EDEADLK when the waiter owns the lock), timeouts before and after the requeue on
 * both clocks, a signal before the requeue (the wait goes on, even without SA_RESTART) and
 * after it (EAGAIN, the lock not taken), a fork while a thread waits, and the same handoff
 * with shared (not private) futexes.
 *
 * A waiter cannot be seen to wait, so the requeuer calls again until it has handled as
 * many as it expects (each call returns how many it woke or requeued). */
#include "common.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_CMP_REQUEUE_PI 12
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAITERS 0x80000000u
#define FUTEX_TID_MASK 0x3fffffffu

#define WAITERS 8

static _Atomic uint32_t cond, lock, other;
/* FUTEX_PRIVATE_FLAG, or 0 for the shared-futex run. */
static int priv = FUTEX_PRIVATE_FLAG;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, long timeout_or_val2, void *addr2,
                  uint32_t val3)
{
    return syscall(SYS_futex, (void *)addr, op, val, timeout_or_val2, addr2, val3);
}

static uint32_t tid(void)
{
    return (uint32_t)syscall(SYS_gettid);
}

/* The PI lock protocol on a raw word: user space takes a free lock and frees one without
 * waiters, the kernel does the rest. 0 or an errno. */
static int pi_lock(_Atomic uint32_t *w)
{
    uint32_t free_word = 0;
    if (atomic_compare_exchange_strong(w, &free_word, tid()))
        return 0;
    return futex(w, FUTEX_LOCK_PI | priv, 0, 0, NULL, 0) == 0 ? 0 : errno;
}

static int pi_unlock(_Atomic uint32_t *w)
{
    uint32_t me = tid();
    if (atomic_compare_exchange_strong(w, &me, 0))
        return 0;
    return futex(w, FUTEX_UNLOCK_PI | priv, 0, 0, NULL, 0) == 0 ? 0 : errno;
}

static struct timespec in_ms(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static const char *rc_name(long r)
{
    return r == 0 ? "0" : errname(errno);
}

/* One waiter: waits on `cond` (value 0) to be requeued to `to`. */
struct waiter {
    pthread_t thread;
    _Atomic uint32_t *to;
    int clock_flag;   /* 0 or FUTEX_CLOCK_REALTIME */
    long timeout_ms;  /* 0: none */
    int own_lock;     /* take `to` before waiting (EDEADLK) and free it after */
    int rc;           /* 0 or the wait's errno */
    int owned;        /* on return, the lock's word names this thread */
    int unlock_rc;
};

static atomic_int inside, overlap, sections;

static void *wait_requeue(void *arg)
{
    struct waiter *w = arg;
    if (w->own_lock)
        pi_lock(w->to);
    struct timespec ts, *tp = NULL;
    if (w->timeout_ms) {
        ts = in_ms(w->clock_flag ? CLOCK_REALTIME : CLOCK_MONOTONIC, w->timeout_ms);
        tp = &ts;
    }
    long r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv | w->clock_flag, 0, (long)tp, (void *)w->to, 0);
    w->rc = r == 0 ? 0 : errno;
    if (r == 0) {
        w->owned = (atomic_load(w->to) & FUTEX_TID_MASK) == tid();
        if (atomic_fetch_add(&inside, 1) != 0)
            atomic_store(&overlap, 1);
        usleep(1000);
        atomic_fetch_add(&sections, 1);
        atomic_fetch_sub(&inside, 1);
        w->unlock_rc = pi_unlock(w->to);
    }
    if (w->own_lock)
        pi_unlock(w->to);
    return NULL;
}

static void start(struct waiter *w, _Atomic uint32_t *to)
{
    w->to = to;
    pthread_create(&w->thread, NULL, wait_requeue, w);
}

/* FUTEX_CMP_REQUEUE_PI of `cond` to `to` until `want` waiters were handled (5 s at most):
 * how many, or -errno of the first call that failed. */
static long requeue_until(long want, int nr_requeue, _Atomic uint32_t *to)
{
    long total = 0;
    for (int i = 0; i < 5000 && total < want; i++) {
        long r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 1, nr_requeue, (void *)to, 0);
        if (r < 0)
            return -errno;
        total += r;
        if (total < want)
            usleep(1000);
    }
    return total;
}

/* A futex call repeated until it answers something else than 0 (a waiter is queued). */
static long until_nonzero(int op, uint32_t val, long val2, void *addr2)
{
    long r = 0;
    for (int i = 0; i < 5000 && r == 0; i++) {
        r = futex(&cond, op | priv, val, val2, addr2, 0);
        if (r == 0)
            usleep(1000);
    }
    return r;
}

static void print_count(const char *name, long got, long want)
{
    if (got < 0)
        checkf(name, 0, "%s", errname((int)-got));
    else
        checkf(name, got == want, "%ld", got);
}

static void errors(void)
{
    atomic_store(&cond, 0);
    atomic_store(&lock, 0);
    long r;
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv, 0, 0, (void *)&cond, 0);
    checkf("wait_same_address", r == -1 && errno == EINVAL, "%s", rc_name(r));
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv, 1, 0, (void *)&lock, 0);
    checkf("wait_value_changed", r == -1 && errno == EAGAIN, "%s", rc_name(r));
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv, 0, 0, (char *)&lock + 1, 0);
    checkf("wait_misaligned_lock", r == -1 && errno == EINVAL, "%s", rc_name(r));
    struct timespec past = {0, 0};
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv, 0, (long)&past, (void *)&lock, 0);
    checkf("wait_timeout_past", r == -1 && errno == ETIMEDOUT, "%s", rc_name(r));
    struct timespec bad = {0, 2000000000L};
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv, 0, (long)&bad, (void *)&lock, 0);
    checkf("wait_timeout_invalid", r == -1 && errno == EINVAL, "%s", rc_name(r));
    struct timespec mono = in_ms(CLOCK_MONOTONIC, 30);
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv, 0, (long)&mono, (void *)&lock, 0);
    checkf("wait_timeout_monotonic", r == -1 && errno == ETIMEDOUT, "%s", rc_name(r));
    struct timespec real = in_ms(CLOCK_REALTIME, 30);
    r = futex(&cond, FUTEX_WAIT_REQUEUE_PI | priv | FUTEX_CLOCK_REALTIME, 0, (long)&real, (void *)&lock, 0);
    checkf("wait_timeout_realtime", r == -1 && errno == ETIMEDOUT, "%s", rc_name(r));

    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 2, 1, (void *)&lock, 0);
    checkf("requeue_nr_wake_2", r == -1 && errno == EINVAL, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 0, 1, (void *)&lock, 0);
    checkf("requeue_nr_wake_0", r == -1 && errno == EINVAL, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 1, -1, (void *)&lock, 0);
    checkf("requeue_negative_count", r == -1 && errno == EINVAL, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 1, 1, (void *)&cond, 0);
    checkf("requeue_same_address", r == -1 && errno == EINVAL, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 1, 1, (void *)&lock, 1);
    checkf("requeue_value_changed", r == -1 && errno == EAGAIN, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv | FUTEX_CLOCK_REALTIME, 1, 1, (void *)&lock, 0);
    checkf("requeue_clock_realtime", r == -1 && errno == ENOSYS, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 1, 1, (void *)&lock, 0);
    checkf("requeue_no_waiter", r == 0, "%s", r < 0 ? errname(errno) : "0");
    checkf("lock_untouched", atomic_load(&lock) == 0, "%#x", atomic_load(&lock));
}

/* A plain waiter on the word: CMP_REQUEUE_PI refuses it. */
static void *plain_wait(void *arg)
{
    (void)arg;
    return (void *)futex(&cond, FUTEX_WAIT | priv, 0, 0, NULL, 0);
}

static void mixing(void)
{
    pthread_t t;
    pthread_create(&t, NULL, plain_wait, NULL);
    long r = until_nonzero(FUTEX_CMP_REQUEUE_PI, 1, 1, (void *)&lock);
    checkf("requeue_pi_of_plain_waiter", r == -1 && errno == EINVAL, "%s", r == -1 ? errname(errno) : "woke");
    r = futex(&cond, FUTEX_WAKE | priv, 1, 0, NULL, 0);
    checkf("plain_waiter_woken", r == 1, "%ld", r);
    void *ret;
    pthread_join(t, &ret);
    checkf("plain_wait_returned", ret == 0, "%ld", (long)ret);

    struct waiter w = {0};
    start(&w, &lock);
    r = until_nonzero(FUTEX_WAKE, 1, 0, NULL);
    checkf("wake_of_requeue_pi_waiter", r == -1 && errno == EINVAL, "%s", r == -1 ? errname(errno) : "woke");
    r = futex(&cond, FUTEX_CMP_REQUEUE | priv, 0, 1, (void *)&other, 0);
    checkf("plain_requeue_of_requeue_pi_waiter", r == -1 && errno == EINVAL, "%s", rc_name(r));
    r = futex(&cond, FUTEX_CMP_REQUEUE_PI | priv, 1, 1, (void *)&other, 0);
    checkf("requeue_pi_to_another_lock", r == -1 && errno == EINVAL, "%s", rc_name(r));
    checkf("other_lock_untouched", atomic_load(&other) == 0, "%#x", atomic_load(&other));
    print_count("requeue_pi_to_its_lock", requeue_until(1, 1, &lock), 1);
    pthread_join(w.thread, NULL);
    checkf("waiter_rc", w.rc == 0, "%s", errname(w.rc));
    check("waiter_owned_lock", w.owned);
    checkf("lock_free_after", atomic_load(&lock) == 0, "%#x", atomic_load(&lock));

    /* The waiter owns the lock it waits to be requeued to: EDEADLK, and it stays queued
     * until its timeout. */
    struct waiter self = {.own_lock = 1, .timeout_ms = 500};
    start(&self, &lock);
    r = until_nonzero(FUTEX_CMP_REQUEUE_PI, 1, 1, (void *)&lock);
    checkf("requeue_to_waiters_own_lock", r == -1 && errno == EDEADLK, "%s", r == -1 ? errname(errno) : "woke");
    pthread_join(self.thread, NULL);
    checkf("deadlocked_waiter_timed_out", self.rc == ETIMEDOUT, "%s", errname(self.rc));
    checkf("lock_free_after_deadlock", atomic_load(&lock) == 0, "%#x", atomic_load(&lock));
}

/* `n` waiters; the lock held by this thread during the requeue, or free; `nr_requeue` per
 * call. Every waiter returns owning the lock, one at a time. */
static void handoff(const char *name, int n, int held, int nr_requeue)
{
    struct waiter w[WAITERS] = {0};
    atomic_store(&sections, 0);
    atomic_store(&overlap, 0);
    if (held)
        pi_lock(&lock);
    for (int i = 0; i < n; i++)
        start(&w[i], &lock);
    char what[96];
    snprintf(what, sizeof what, "%s_requeued", name);
    print_count(what, requeue_until(n, nr_requeue, &lock), n);
    if (held) {
        uint32_t word = atomic_load(&lock);
        snprintf(what, sizeof what, "%s_lock_has_waiters", name);
        checkf(what, (word & FUTEX_TID_MASK) == tid() && (word & FUTEX_WAITERS), "%d",
               (word & FUTEX_TID_MASK) == tid() && (word & FUTEX_WAITERS));
        snprintf(what, sizeof what, "%s_unlock", name);
        expect_rc(what, pi_unlock(&lock), 0);
    }
    int rc_ok = 1, owned = 1, unlocked = 1;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        rc_ok &= w[i].rc == 0;
        owned &= w[i].owned;
        unlocked &= w[i].unlock_rc == 0;
    }
    snprintf(what, sizeof what, "%s_waiters", name);
    checkf(what, rc_ok && owned && unlocked, "returned %d owned %d unlocked %d", rc_ok, owned, unlocked);
    snprintf(what, sizeof what, "%s_exclusive", name);
    checkf(what, atomic_load(&sections) == n && !atomic_load(&overlap), "%d sections, overlap %d",
           atomic_load(&sections), atomic_load(&overlap));
    snprintf(what, sizeof what, "%s_lock_free", name);
    checkf(what, atomic_load(&lock) == 0, "%#x", atomic_load(&lock));
}

/* Requeued to a lock this thread keeps past the waiter's timeout: ETIMEDOUT, not owning. */
static void timeout_after_requeue(const char *name, int clock_flag)
{
    pi_lock(&lock);
    struct waiter w = {.timeout_ms = 300, .clock_flag = clock_flag};
    start(&w, &lock);
    char what[96];
    snprintf(what, sizeof what, "%s_requeued", name);
    print_count(what, requeue_until(1, 0, &lock), 1);
    pthread_join(w.thread, NULL);
    snprintf(what, sizeof what, "%s_rc", name);
    checkf(what, w.rc == ETIMEDOUT, "%s", errname(w.rc));
    snprintf(what, sizeof what, "%s_unlock", name);
    expect_rc(what, pi_unlock(&lock), 0);
    snprintf(what, sizeof what, "%s_lock_free", name);
    checkf(what, atomic_load(&lock) == 0, "%#x", atomic_load(&lock));
}

static atomic_int handled;
static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

/* A signal before the requeue: the handler runs and the wait goes on (Linux restarts it
 * whatever SA_RESTART says); a fork by this thread meanwhile; then the requeue. */
static void signal_before_requeue(void)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART */
    atomic_store(&handled, 0);
    struct waiter w = {0};
    start(&w, &lock);
    usleep(50 * 1000);
    pthread_kill(w.thread, SIGUSR1);
    for (int i = 0; i < 500 && !atomic_load(&handled); i++)
        usleep(10 * 1000);
    checkf("signal_before_handled", atomic_load(&handled) == 1, "%d", atomic_load(&handled));
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    int status = 0;
    waitpid(pid, &status, 0);
    checkf("fork_while_waiting", WIFEXITED(status) && WEXITSTATUS(status) == 3, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    print_count("signal_before_requeued", requeue_until(1, 0, &lock), 1);
    pthread_join(w.thread, NULL);
    checkf("signal_before_rc", w.rc == 0, "%s", errname(w.rc));
    check("signal_before_owned", w.owned);
    checkf("signal_before_lock_free", atomic_load(&lock) == 0, "%#x", atomic_load(&lock));
}

/* A signal after the requeue, while the waiter waits for the held lock: EAGAIN. */
static void signal_after_requeue(void)
{
    atomic_store(&handled, 0);
    pi_lock(&lock);
    struct waiter w = {0};
    start(&w, &lock);
    print_count("signal_after_requeued", requeue_until(1, 0, &lock), 1);
    pthread_kill(w.thread, SIGUSR1);
    pthread_join(w.thread, NULL);
    checkf("signal_after_handled", atomic_load(&handled) == 1, "%d", atomic_load(&handled));
    checkf("signal_after_rc", w.rc == EAGAIN, "%s", errname(w.rc));
    expect_rc("signal_after_unlock", pi_unlock(&lock), 0);
    checkf("signal_after_lock_free", atomic_load(&lock) == 0, "%#x", atomic_load(&lock));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    errors();
    mixing();
    handoff("one_free", 1, 0, 0);
    handoff("broadcast_held", WAITERS, 1, INT_MAX);
    handoff("broadcast_free", WAITERS, 0, INT_MAX);
    handoff("signal_each_free", 4, 0, 0);
    handoff("signal_each_held", 4, 1, 0);
    timeout_after_requeue("timeout_monotonic", 0);
    timeout_after_requeue("timeout_realtime", FUTEX_CLOCK_REALTIME);
    signal_before_requeue();
    signal_after_requeue();
    priv = 0;
    handoff("shared_broadcast_held", 4, 1, INT_MAX);
    handoff("shared_broadcast_free", 4, 0, INT_MAX);
    return finish();
}
