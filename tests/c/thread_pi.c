/* Priority-inheritance mutexes (PTHREAD_PRIO_INHERIT, FUTEX_LOCK_PI and friends): mutual
 * exclusion under contention, trylock, the owner's relock (EDEADLK for an error-checking
 * one), a timed lock that times out, a robust one whose owner dies (EOWNERDEAD), and the
 * raw futex ops' answers; a thread waiting for a PI lock runs a signal's handler while it
 * waits (and then goes on waiting, even without SA_RESTART), and a fork by another thread
 * meanwhile works; a robust one whose owner dies while a thread waits for it goes to that
 * thread with EOWNERDEAD; get/set_robust_list. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
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

/* A thread that waits for the PI lock main holds, and takes a signal meanwhile. */
static atomic_int handled;
static atomic_int waiting_rc = -1;
static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&handled, 1);
}
static void *wait_for_lock(void *arg)
{
    (void)arg;
    int rc = pthread_mutex_lock(&pi);
    atomic_store(&waiting_rc, rc);
    if (rc == 0)
        pthread_mutex_unlock(&pi);
    return NULL;
}

static void signal_and_fork_while_waiting(void)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: the lock wait restarts anyway */
    expect_rc("lock_for_waiter", pthread_mutex_lock(&pi), 0);
    pthread_t t;
    pthread_create(&t, NULL, wait_for_lock, NULL);
    usleep(100 * 1000);
    pthread_kill(t, SIGUSR1);
    for (int i = 0; i < 500 && !atomic_load(&handled); i++)
        usleep(10 * 1000);
    check("pi_waiter_ran_handler", atomic_load(&handled));
    pid_t pid = fork();
    if (pid == 0)
        _exit(4);
    int status = 0;
    waitpid(pid, &status, 0);
    checkf("fork_while_pi_waiting", WIFEXITED(status) && WEXITSTATUS(status) == 4, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    checkf("pi_waiter_still_waiting", atomic_load(&waiting_rc) == -1, "%d", atomic_load(&waiting_rc));
    expect_rc("unlock_for_waiter", pthread_mutex_unlock(&pi), 0);
    pthread_join(t, NULL);
    checkf("pi_waiter_got_lock", atomic_load(&waiting_rc) == 0, "%d", atomic_load(&waiting_rc));
}

/* A robust PI mutex whose owner dies while another thread waits for it: the waiter gets
 * it with EOWNERDEAD. */
static pthread_mutex_t robust_waited;
static atomic_int robust_owned;
static atomic_int robust_waiter_rc = -1;
static void *own_then_die(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust_waited);
    atomic_store(&robust_owned, 1);
    usleep(200 * 1000);
    return NULL;
}
static void *wait_for_dying_owner(void *arg)
{
    (void)arg;
    int rc = pthread_mutex_lock(&robust_waited);
    atomic_store(&robust_waiter_rc, rc);
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&robust_waited);
    if (rc == 0 || rc == EOWNERDEAD)
        pthread_mutex_unlock(&robust_waited);
    return NULL;
}

static void owner_dies_while_waited_for(pthread_mutexattr_t *a)
{
    pthread_mutex_init(&robust_waited, a);
    pthread_t owner, waiter;
    pthread_create(&owner, NULL, own_then_die, NULL);
    while (!atomic_load(&robust_owned))
        usleep(1000);
    pthread_create(&waiter, NULL, wait_for_dying_owner, NULL);
    pthread_join(owner, NULL);
    pthread_join(waiter, NULL);
    expect_rc("robust_waiter_owner_died", atomic_load(&robust_waiter_rc), EOWNERDEAD);
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
    signal_and_fork_while_waiting();

    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
    pthread_mutex_init(&robust, &a);
    pthread_create(&t[0], NULL, die_holding, NULL);
    pthread_join(t[0], NULL);
    expect_rc("robust_owner_died", pthread_mutex_lock(&robust), EOWNERDEAD);
    expect_rc("robust_consistent", pthread_mutex_consistent(&robust), 0);
    expect_rc("robust_unlock", pthread_mutex_unlock(&robust), 0);
    owner_dies_while_waited_for(&a);

    /* The raw operations. */
    uint32_t word = 0;
    expect_ok("raw_trylock_free", futex(&word, FUTEX_TRYLOCK_PI | 128));
    check("raw_owner_is_tid", word == (uint32_t)syscall(SYS_gettid));
    expect_err("raw_lock_own", futex(&word, FUTEX_LOCK_PI | 128), EDEADLK);
    expect_ok("raw_unlock", futex(&word, FUTEX_UNLOCK_PI | 128));
    check("raw_released", word == 0);
    word = 0;
    expect_err("raw_unlock_not_owner", futex(&word, FUTEX_UNLOCK_PI | 128), EPERM);

    /* get_robust_list: what set_robust_list gave (musl asks it before it allows robust
     * mutexes at all). */
    struct {
        void *next;
        long offset;
        void *pending;
    } head = {&head, 0, NULL};
    void *old_head = NULL, *got = NULL;
    size_t old_len = 0, len = 0;
    expect_ok("get_robust_list_self", syscall(SYS_get_robust_list, 0, &old_head, &old_len));
    check("robust_list_len", old_len == sizeof head);
    expect_ok("set_robust_list", syscall(SYS_set_robust_list, &head, sizeof head));
    expect_ok("get_robust_list_again", syscall(SYS_get_robust_list, 0, &got, &len));
    check("robust_list_is_ours", got == (void *)&head);
    expect_ok("get_robust_list_own_tid", syscall(SYS_get_robust_list, (int)syscall(SYS_gettid), &got, &len));
    check("robust_list_by_tid", got == (void *)&head);
    expect_err("get_robust_list_no_such_pid", syscall(SYS_get_robust_list, 0x3ffffff0, &got, &len), ESRCH);
    expect_err("set_robust_list_bad_len", syscall(SYS_set_robust_list, &head, sizeof head + 1), EINVAL);
    syscall(SYS_set_robust_list, old_head, old_len);
    return finish();
}
