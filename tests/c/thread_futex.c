/* Raw futex(2) between threads: WAIT/WAKE, timeouts, value mismatch, CMP_REQUEUE,
 * WAKE_OP, WAIT_BITSET/WAKE_BITSET, shared and FUTEX_PRIVATE_FLAG keys, futex_waitv.
 *
 * Knowing that a waiter really sleeps in the kernel without sleeping on a timer: the
 * waiters sleep on a word that never changes, and main moves them with CMP_REQUEUE
 * (wake 0, requeue all) onto a second word until the requeue counts add up to the
 * number of waiters ("parking"). After that every waiter is queued on the second word,
 * so wake counts are exact. The constants are spelled out: musl has no linux/futex.h. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP_CMP_GT 4
#define FUTEX_OP(op, oparg, cmp, cmparg) \
    (((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define FUTEX_32 2

struct futex_waitv {
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t __reserved;
};

static long futex(uint32_t *addr, int op, uint32_t val, const void *timeout_or_val2, uint32_t *addr2,
                  uint32_t val3)
{
    return syscall(SYS_futex, addr, op, val, timeout_or_val2, addr2, val3);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* A waiter thread: one futex wait with the given op/bitset; records the result. */
struct waiter {
    uint32_t *word;
    uint32_t expect;
    int op;
    uint32_t bitset;
    long ret;
    int err;
    int done;
    pthread_t thread;
};

static void *waiter_fn(void *p)
{
    struct waiter *w = p;
    errno = 0;
    w->ret = futex(w->word, w->op, w->expect, NULL, NULL, w->bitset);
    w->err = errno;
    __atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void start(struct waiter *w, uint32_t *word, int op, uint32_t bitset)
{
    w->word = word;
    w->expect = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    w->op = op;
    w->bitset = bitset;
    w->ret = -2;
    w->err = 0;
    w->done = 0;
    pthread_create(&w->thread, NULL, waiter_fn, w);
}

/* Moves `n` waiters sleeping on `from` onto `to`. Returns 1 once all n were moved,
 * 0 after 10 s (the waiters never went to sleep, or requeue does not count). */
static int park(uint32_t *from, uint32_t *to, int n, int private_flag)
{
    int moved = 0;
    for (int i = 0; i < 10000 && moved < n; i++) {
        long r = futex(from, FUTEX_CMP_REQUEUE | private_flag, 0, (void *)(uintptr_t)0x7fffffff, to,
                       __atomic_load_n(from, __ATOMIC_SEQ_CST));
        if (r > 0)
            moved += (int)r;
        else if (moved < n)
            pause_ms(1);
    }
    return moved == n;
}

/* Joins a waiter, returning "0" for a successful wake or the errno name. */
static const char *joined(struct waiter *w)
{
    pthread_join(w->thread, NULL);
    if (w->ret == 0)
        return "woken";
    if (w->ret == -1)
        return errname(w->err);
    return "other";
}

static void wait_wake(const char *prefix, int pf)
{
    char name[96];
    static uint32_t word, target;
    word = 0;
    target = 0;

    /* One waiter, woken by a plain WAKE after parking. */
    struct waiter w[3];
    start(&w[0], &word, FUTEX_WAIT | pf, 0);
    snprintf(name, sizeof name, "%s_park_one", prefix);
    check(name, park(&word, &target, 1, pf));
    snprintf(name, sizeof name, "%s_wake_one", prefix);
    checkf(name, 1, "%ld", futex(&target, FUTEX_WAKE | pf, 1, NULL, NULL, 0));
    snprintf(name, sizeof name, "%s_waiter_one", prefix);
    checkf(name, 1, "%s", joined(&w[0]));

    /* Three waiters: WAKE 2 wakes exactly two, the next WAKE the last one. */
    for (int i = 0; i < 3; i++)
        start(&w[i], &word, FUTEX_WAIT | pf, 0);
    snprintf(name, sizeof name, "%s_park_three", prefix);
    check(name, park(&word, &target, 3, pf));
    snprintf(name, sizeof name, "%s_wake_two_of_three", prefix);
    checkf(name, 1, "%ld", futex(&target, FUTEX_WAKE | pf, 2, NULL, NULL, 0));
    /* Exactly one is still asleep: waiting for two to finish, then it is still there. */
    for (int spins = 0; spins < 10000; spins++) {
        int d = 0;
        for (int i = 0; i < 3; i++)
            d += __atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST);
        if (d >= 2)
            break;
        pause_ms(1);
    }
    int done = 0;
    for (int i = 0; i < 3; i++)
        done += __atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST);
    snprintf(name, sizeof name, "%s_two_returned", prefix);
    checkf(name, 1, "%d", done);
    snprintf(name, sizeof name, "%s_wake_rest", prefix);
    checkf(name, 1, "%ld", futex(&target, FUTEX_WAKE | pf, 10, NULL, NULL, 0));
    snprintf(name, sizeof name, "%s_waiters_three", prefix);
    checkf(name, 1, "%s %s %s", joined(&w[0]), joined(&w[1]), joined(&w[2]));
    snprintf(name, sizeof name, "%s_wake_nobody", prefix);
    checkf(name, 1, "%ld", futex(&target, FUTEX_WAKE | pf, 10, NULL, NULL, 0));

    /* CMP_REQUEUE: wake 1, requeue 2, then the val3 mismatch is EAGAIN. */
    static uint32_t a, b;
    a = 5;
    b = 0;
    for (int i = 0; i < 3; i++)
        start(&w[i], &a, FUTEX_WAIT | pf, 0);
    /* Park them on b, then requeue all three back onto a. */
    snprintf(name, sizeof name, "%s_requeue_park", prefix);
    int parked = park(&a, &b, 3, pf);
    check(name, parked);
    snprintf(name, sizeof name, "%s_requeue_back", prefix);
    checkf(name, 1, "%ld", futex(&b, FUTEX_CMP_REQUEUE | pf, 0, (void *)3, &a, 0));
    snprintf(name, sizeof name, "%s_cmp_requeue_mismatch", prefix);
    errno = 0;
    long r = futex(&a, FUTEX_CMP_REQUEUE | pf, 1, (void *)1, &b, 6);
    checkf(name, 1, "%s", r == -1 ? errname(errno) : "succeeded");
    snprintf(name, sizeof name, "%s_cmp_requeue", prefix);
    checkf(name, 1, "%ld", futex(&a, FUTEX_CMP_REQUEUE | pf, 1, (void *)1, &b, 5));
    snprintf(name, sizeof name, "%s_requeued_wake_a", prefix);
    checkf(name, 1, "%ld", futex(&a, FUTEX_WAKE | pf, 10, NULL, NULL, 0));
    snprintf(name, sizeof name, "%s_requeued_wake_b", prefix);
    checkf(name, 1, "%ld", futex(&b, FUTEX_WAKE | pf, 10, NULL, NULL, 0));
    snprintf(name, sizeof name, "%s_requeue_waiters", prefix);
    checkf(name, 1, "%s %s %s", joined(&w[0]), joined(&w[1]), joined(&w[2]));

    /* Plain REQUEUE (no compare). */
    a = 0;
    for (int i = 0; i < 2; i++)
        start(&w[i], &a, FUTEX_WAIT | pf, 0);
    snprintf(name, sizeof name, "%s_requeue_plain_park", prefix);
    check(name, park(&a, &b, 2, pf));
    snprintf(name, sizeof name, "%s_requeue_plain", prefix);
    checkf(name, 1, "%ld", futex(&b, FUTEX_REQUEUE | pf, 0, (void *)2, &a, 0));
    snprintf(name, sizeof name, "%s_requeue_plain_wake", prefix);
    checkf(name, 1, "%ld", futex(&a, FUTEX_WAKE | pf, 10, NULL, NULL, 0));
    snprintf(name, sizeof name, "%s_requeue_plain_waiters", prefix);
    checkf(name, 1, "%s %s", joined(&w[0]), joined(&w[1]));

    /* WAKE_OP: one waiter on each of x and y. */
    static uint32_t x, y;
    x = 0;
    y = 0;
    static uint32_t px, py;
    px = py = 0;
    start(&w[0], &px, FUTEX_WAIT | pf, 0);
    start(&w[1], &py, FUTEX_WAIT | pf, 0);
    int p1 = park(&px, &x, 1, pf), p2 = park(&py, &y, 1, pf);
    snprintf(name, sizeof name, "%s_wake_op_park", prefix);
    check(name, p1 && p2);
    /* y += 1; old y (0) > 0 is false: only x's waiter wakes. */
    snprintf(name, sizeof name, "%s_wake_op_cmp_false", prefix);
    checkf(name, 1, "%ld", futex(&x, FUTEX_WAKE_OP | pf, 1, (void *)1, &y, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 0)));
    snprintf(name, sizeof name, "%s_wake_op_y_after_add", prefix);
    checkf(name, 1, "%u", y);
    /* y = 7; old y (1) == 1: y's waiter wakes (x has none left). */
    snprintf(name, sizeof name, "%s_wake_op_cmp_true", prefix);
    checkf(name, 1, "%ld", futex(&x, FUTEX_WAKE_OP | pf, 1, (void *)1, &y, FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 1)));
    snprintf(name, sizeof name, "%s_wake_op_y_after_set", prefix);
    checkf(name, 1, "%u", y);
    snprintf(name, sizeof name, "%s_wake_op_waiters", prefix);
    checkf(name, 1, "%s %s", joined(&w[0]), joined(&w[1]));

    /* Bitsets: waiters with bits 1 and 2; WAKE_BITSET 2 wakes only the second. */
    static uint32_t bw, bt;
    bw = bt = 0;
    start(&w[0], &bw, FUTEX_WAIT_BITSET | pf, 1);
    start(&w[1], &bw, FUTEX_WAIT_BITSET | pf, 2);
    snprintf(name, sizeof name, "%s_bitset_park", prefix);
    check(name, park(&bw, &bt, 2, pf));
    snprintf(name, sizeof name, "%s_wake_bitset_4", prefix);
    checkf(name, 1, "%ld", futex(&bt, FUTEX_WAKE_BITSET | pf, 10, NULL, NULL, 4));
    snprintf(name, sizeof name, "%s_wake_bitset_2", prefix);
    checkf(name, 1, "%ld", futex(&bt, FUTEX_WAKE_BITSET | pf, 10, NULL, NULL, 2));
    pthread_join(w[1].thread, NULL);
    snprintf(name, sizeof name, "%s_bitset_2_woken", prefix);
    checkf(name, 1, "%s %d", w[1].ret == 0 ? "woken" : errname(w[1].err), __atomic_load_n(&w[0].done, __ATOMIC_SEQ_CST));
    snprintf(name, sizeof name, "%s_wake_bitset_any", prefix);
    checkf(name, 1, "%ld", futex(&bt, FUTEX_WAKE_BITSET | pf, 10, NULL, NULL, FUTEX_BITSET_MATCH_ANY));
    snprintf(name, sizeof name, "%s_bitset_1_woken", prefix);
    checkf(name, 1, "%s", joined(&w[0]));
    errno = 0;
    r = futex(&bt, FUTEX_WAKE_BITSET | pf, 1, NULL, NULL, 0);
    snprintf(name, sizeof name, "%s_wake_bitset_zero", prefix);
    checkf(name, 1, "%s", r == -1 ? errname(errno) : "succeeded");
}

/* Timeouts and value mismatch, in a thread (a futex wait is per thread). */
struct timed {
    int pf;
    char out[8][64];
};
static void *timed_fn(void *p)
{
    struct timed *t = p;
    static uint32_t word;
    word = 3;
    struct timespec rel = {0, 30 * 1000000L};
    double t0 = now_mono();
    errno = 0;
    long r = futex(&word, FUTEX_WAIT | t->pf, 3, &rel, NULL, 0);
    double el = now_mono() - t0;
    snprintf(t->out[0], 64, "%s%s", r == -1 ? errname(errno) : "returned", el >= 0.028 ? "" : " early");

    errno = 0;
    r = futex(&word, FUTEX_WAIT | t->pf, 4, &rel, NULL, 0);
    snprintf(t->out[1], 64, "%s", r == -1 ? errname(errno) : "returned");

    /* WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline... */
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 30 * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    t0 = now_mono();
    errno = 0;
    r = futex(&word, FUTEX_WAIT_BITSET | t->pf, 3, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
    el = now_mono() - t0;
    snprintf(t->out[2], 64, "%s%s", r == -1 ? errname(errno) : "returned", el >= 0.025 ? "" : " early");

    /* ...or CLOCK_REALTIME with FUTEX_CLOCK_REALTIME. */
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 30 * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    t0 = now_mono();
    errno = 0;
    r = futex(&word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | t->pf, 3, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
    el = now_mono() - t0;
    snprintf(t->out[3], 64, "%s%s", r == -1 ? errname(errno) : "returned", el >= 0.025 ? "" : " early");

    /* A deadline in the past: at once. */
    abs.tv_sec -= 100;
    errno = 0;
    r = futex(&word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | t->pf, 3, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
    snprintf(t->out[4], 64, "%s", r == -1 ? errname(errno) : "returned");

    /* FUTEX_CLOCK_REALTIME is refused (ENOSYS) with plain FUTEX_WAIT. */
    errno = 0;
    r = futex(&word, FUTEX_WAIT | FUTEX_CLOCK_REALTIME | t->pf, 3, &rel, NULL, 0);
    snprintf(t->out[5], 64, "%s", r == -1 ? errname(errno) : "returned");

    errno = 0;
    r = futex(&word, FUTEX_WAIT_BITSET | t->pf, 3, &rel, NULL, 0);
    snprintf(t->out[6], 64, "%s", r == -1 ? errname(errno) : "returned");
    return NULL;
}

static void timeouts(const char *prefix, int pf)
{
    struct timed t = {.pf = pf};
    pthread_t th;
    pthread_create(&th, NULL, timed_fn, &t);
    pthread_join(th, NULL);
    const char *names[] = {"wait_timeout", "wait_mismatch", "wait_bitset_monotonic_timeout",
                           "wait_bitset_realtime_timeout", "wait_bitset_past_deadline",
                           "wait_clock_realtime_plain", "wait_bitset_zero"};
    for (int i = 0; i < 7; i++)
        printf("%s_%s: %s\n", prefix, names[i], t.out[i]);
}

/* A private waiter is not woken through the shared key of the same word: for private
 * anonymous memory Linux keys the two differently. */
static void private_vs_shared(void)
{
    static uint32_t word, target;
    word = target = 0;
    struct waiter w;
    start(&w, &word, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0);
    check("private_park", park(&word, &target, 1, FUTEX_PRIVATE_FLAG));
    checkf("private_wake_shared_key", 1, "%ld", futex(&target, FUTEX_WAKE, 1, NULL, NULL, 0));
    checkf("private_wake_private_key", 1, "%ld", futex(&target, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0));
    checkf("private_waiter", 1, "%s", joined(&w));
}

/* futex_waitv: wait on two words; a wake on the second returns its index. */
static uint32_t v1, v2;
struct waitv_result {
    long ret;
    int err;
};
static void *waitv_fn(void *p)
{
    struct waitv_result *res = p;
    struct futex_waitv wv[2] = {
        {.val = 0, .uaddr = (uintptr_t)&v1, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
        {.val = 0, .uaddr = (uintptr_t)&v2, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
    };
    errno = 0;
    res->ret = syscall(SYS_futex_waitv, wv, 2, 0, NULL, CLOCK_MONOTONIC);
    res->err = errno;
    return NULL;
}
static void waitv(void)
{
    struct futex_waitv wv[2] = {
        {.val = 0, .uaddr = (uintptr_t)&v1, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
        {.val = 0, .uaddr = (uintptr_t)&v2, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
    };
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20 * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    errno = 0;
    long r = syscall(SYS_futex_waitv, wv, 2, 0, &abs, CLOCK_MONOTONIC);
    printf("futex_waitv_timeout: %s\n", r == -1 ? errname(errno) : "returned");
    if (r == -1 && errno == ENOSYS)
        return;
    v2 = 1;
    errno = 0;
    r = syscall(SYS_futex_waitv, wv, 2, 0, &abs, CLOCK_MONOTONIC);
    printf("futex_waitv_mismatch: %s\n", r == -1 ? errname(errno) : "returned");
    v2 = 0;
    errno = 0;
    r = syscall(SYS_futex_waitv, wv, 2, 1, &abs, CLOCK_MONOTONIC);
    printf("futex_waitv_bad_flags: %s\n", r == -1 ? errname(errno) : "returned");

    /* A thread waits on both; wake the second until the WAKE reports one woken. */
    struct waitv_result res = {-2, 0};
    pthread_t t;
    pthread_create(&t, NULL, waitv_fn, &res);
    long woke = 0;
    for (int i = 0; i < 10000 && woke == 0; i++) {
        woke = futex(&v2, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
        if (woke == 0)
            pause_ms(1);
    }
    pthread_join(t, NULL);
    printf("futex_waitv_woken_by_wake: %ld\n", woke);
    printf("futex_waitv_index: %s\n", res.ret >= 0 ? (res.ret == 1 ? "1" : "other") : errname(res.err));
}

/* membarrier: the commands runtimes use, with another thread running user code. */
#ifndef SYS_membarrier
#define SYS_membarrier 324
#endif
static volatile int spin_stop;
static void *spin_fn(void *arg)
{
    while (!spin_stop)
        ;
    return arg;
}
/* Before any thread exists: musl's pthread_create registers PRIVATE_EXPEDITED itself. */
static void membarrier_cmds(void)
{
    long q = syscall(SYS_membarrier, 0, 0, 0);
    /* The bits every kernel since 5.10 has (newer ones add GET_REGISTRATIONS, 512). */
    checkf("membarrier_query", (q & 0x1ff) == 0x1ff, "%ld", q & 0x1ff);
    expect_err("membarrier_private_unregistered", syscall(SYS_membarrier, 8, 0, 0), EPERM);
    pthread_t t;
    pthread_create(&t, NULL, spin_fn, NULL);
    expect_ok("membarrier_register_private", syscall(SYS_membarrier, 16, 0, 0));
    expect_ok("membarrier_private", syscall(SYS_membarrier, 8, 0, 0));
    expect_err("membarrier_sync_core_unregistered", syscall(SYS_membarrier, 32, 0, 0), EPERM);
    expect_ok("membarrier_register_sync_core", syscall(SYS_membarrier, 64, 0, 0));
    expect_ok("membarrier_sync_core", syscall(SYS_membarrier, 32, 0, 0));
    expect_ok("membarrier_global", syscall(SYS_membarrier, 1, 0, 0));
    expect_ok("membarrier_global_expedited", syscall(SYS_membarrier, 2, 0, 0));
    expect_err("membarrier_bad_flags", syscall(SYS_membarrier, 0, 1, 0), EINVAL);
    expect_err("membarrier_two_commands", syscall(SYS_membarrier, 3, 0, 0), EINVAL);
    if (q & 512)
        checkf("membarrier_registrations", syscall(SYS_membarrier, 512, 0, 0) == (16 | 64), "%ld",
               syscall(SYS_membarrier, 512, 0, 0));
    spin_stop = 1;
    pthread_join(t, NULL);
}

int main(void)
{
    membarrier_cmds();
    wait_wake("shared", 0);
    wait_wake("private", FUTEX_PRIVATE_FLAG);
    timeouts("shared", 0);
    timeouts("private", FUTEX_PRIVATE_FLAG);
    private_vs_shared();
    waitv();
    return finish();
}
