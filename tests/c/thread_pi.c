/* Priority-inheritance mutexes (PTHREAD_PRIO_INHERIT, FUTEX_LOCK_PI and friends): mutual
 * exclusion under contention, trylock, the owner's relock (EDEADLK for an error-checking
 * one), a timed lock that times out, a robust one whose owner dies (EOWNERDEAD), and the
 * raw futex ops' answers. */
#include "common.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#define FUTEX_LOCK_PI 6
#define FUTEX_UNLOCK_PI 7
#define FUTEX_TRYLOCK_PI 8

static pthread_mutex_t pi;
static long counter;

static void *contend(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&pi);
        counter++;
        pthread_mutex_unlock(&pi);
    }
    return NULL;
}

static void *try_while_held(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)pthread_mutex_trylock(&pi);
}

static void *timed_while_held(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 30 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return (void *)(intptr_t)pthread_mutex_timedlock(&pi, &ts);
}

static pthread_mutex_t robust;
static void *die_holding(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust);
    return NULL; /* exits with the lock held */
}

static long futex(uint32_t *w, int op)
{
    return syscall(SYS_futex, w, op, 0, NULL, NULL, 0);
}

int main(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    expect_rc("init_pi", pthread_mutex_init(&pi, &a), 0);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, contend, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    checkf("contended_count", counter == 80000, "%ld", counter);

    expect_rc("lock", pthread_mutex_lock(&pi), 0);
    expect_rc("relock_by_owner", pthread_mutex_lock(&pi), EDEADLK);
    void *r;
    pthread_create(&t[0], NULL, try_while_held, NULL);
    pthread_join(t[0], &r);
    expect_rc("trylock_while_held", (int)(intptr_t)r, EBUSY);
    pthread_create(&t[0], NULL, timed_while_held, NULL);
    pthread_join(t[0], &r);
    expect_rc("timedlock_times_out", (int)(intptr_t)r, ETIMEDOUT);
    expect_rc("unlock", pthread_mutex_unlock(&pi), 0);
    expect_rc("unlock_not_owner", pthread_mutex_unlock(&pi), EPERM);

    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
    pthread_mutex_init(&robust, &a);
    pthread_create(&t[0], NULL, die_holding, NULL);
    pthread_join(t[0], NULL);
    expect_rc("robust_owner_died", pthread_mutex_lock(&robust), EOWNERDEAD);
    expect_rc("robust_consistent", pthread_mutex_consistent(&robust), 0);
    expect_rc("robust_unlock", pthread_mutex_unlock(&robust), 0);

    /* The raw operations. */
    uint32_t word = 0;
    expect_ok("raw_trylock_free", futex(&word, FUTEX_TRYLOCK_PI | 128));
    check("raw_owner_is_tid", word == (uint32_t)syscall(SYS_gettid));
    expect_err("raw_lock_own", futex(&word, FUTEX_LOCK_PI | 128), EDEADLK);
    expect_ok("raw_unlock", futex(&word, FUTEX_UNLOCK_PI | 128));
    check("raw_released", word == 0);
    word = 0;
    expect_err("raw_unlock_not_owner", futex(&word, FUTEX_UNLOCK_PI | 128), EPERM);
    return finish();
}
