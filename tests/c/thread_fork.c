/* fork, vfork and posix_spawn from threads: from a thread other than the first, the child
 * has only the calling thread (its TLS, the memory of all), gettid() == getpid(), and can
 * lock, create threads, fork again and exit with a status the parent sees; while other threads
 * keep taking locks and allocating, forks from the first thread and from others (also two
 * at once) give children that run to the end (a lock held by a stopped thread would hang
 * them); pthread_atfork handlers run; a vfork child's writes are seen by its parent thread.
 * Threads only record what they see; main prints, so the output order is fixed. */
#include "common.h"

#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static long tid(void) { return syscall(SYS_gettid); }

static __thread int tls_mark;

/* --- churn: threads that take a mutex and allocate all the time --- */
static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int churn_stop;
static unsigned long churn_count;
static void *churn_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        void *p = malloc(64 + (churn_count % 4000));
        pthread_mutex_lock(&churn_lock);
        churn_count++;
        pthread_mutex_unlock(&churn_lock);
        free(p);
    }
    return NULL;
}

/* What a forked child does: it must be able to lock, allocate, make a thread, print. */
static void *child_thread_fn(void *arg) { return (void *)((uintptr_t)arg + 1); }
static int child_work(int expect_tls)
{
    if (tid() != getpid())
        return 10;
    if (tls_mark != expect_tls)
        return 11;
    /* Not churn_lock: a mutex another thread held at the fork stays locked in the child,
     * on Linux too. */
    static pthread_mutex_t own = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&own);
    pthread_mutex_unlock(&own);
    void *p = malloc(100000);
    if (!p)
        return 12;
    free(p);
    pthread_t t;
    void *ret;
    if (pthread_create(&t, NULL, child_thread_fn, (void *)41) != 0 || pthread_join(t, &ret) != 0)
        return 13;
    if ((uintptr_t)ret != 42)
        return 14;
    return 0;
}

static int wait_status(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* --- fork from a thread --- */
struct fork_result {
    int child_status;
    int grandchild_status;
};
static void *fork_fn(void *arg)
{
    struct fork_result *r = arg;
    tls_mark = 7;
    pid_t pid = fork();
    if (pid == 0) {
        int e = child_work(7);
        if (e)
            _exit(e);
        /* The child's one thread forks again. */
        pid_t g = fork();
        if (g == 0)
            _exit(child_work(7) ? 21 : 3);
        _exit(wait_status(g) == 3 ? 5 : 22);
    }
    r->child_status = wait_status(pid);
    return NULL;
}

/* --- vfork and posix_spawn from a thread --- */
static void *spawn_fn(void *arg)
{
    int *out = arg;
    volatile int written = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        written = 99;
        _exit(4);
    }
    out[0] = wait_status(pid);
    out[1] = written;
    char *argv[] = {"/bin/sh", "-c", "exit 6", NULL};
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0)
        out[2] = wait_status(pid);
    /* A spawn whose exec fails reports the errno. */
    char *bad[] = {"/nonexistent/prog", NULL};
    out[3] = posix_spawn(&pid, "/nonexistent/prog", NULL, NULL, bad, environ);
    return NULL;
}

/* --- atfork handlers --- */
static atomic_int atfork_prepare, atfork_parent, atfork_child_seen;
static void on_prepare(void) { atomic_fetch_add(&atfork_prepare, 1); }
static void on_parent(void) { atomic_fetch_add(&atfork_parent, 1); }
static void on_child(void) { atomic_store(&atfork_child_seen, 1); }
static void *atfork_fn(void *arg)
{
    int *out = arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(atomic_load(&atfork_child_seen) ? 8 : 9);
    *out = wait_status(pid);
    return NULL;
}

/* --- many forks from several threads at once, others churning --- */
#define FORKERS 3
#define ROUNDS 10
static int forker_bad[FORKERS];
static void *forker_fn(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    tls_mark = 100 + (int)i;
    for (int k = 0; k < ROUNDS; k++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_work(100 + (int)i));
        if (pid < 0 || wait_status(pid) != 0)
            forker_bad[i]++;
    }
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t churn[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&churn[i], NULL, churn_fn, NULL);

    struct fork_result fr = {0};
    pthread_t t;
    pthread_create(&t, NULL, fork_fn, &fr);
    pthread_join(t, NULL);
    printf("fork from a thread: child status %d\n", fr.child_status);

    int sp[4] = {-1, -1, -1, -1};
    pthread_create(&t, NULL, spawn_fn, sp);
    pthread_join(t, NULL);
    printf("vfork from a thread: status %d, write seen %d\n", sp[0], sp[1]);
    printf("posix_spawn from a thread: status %d, failed exec errno %s\n", sp[2],
           sp[3] == ENOENT ? "ENOENT" : "other");

    pthread_atfork(on_prepare, on_parent, on_child);
    int af = -1;
    pthread_create(&t, NULL, atfork_fn, &af);
    pthread_join(t, NULL);
    printf("atfork: prepare %d, parent %d, child status %d\n", atomic_load(&atfork_prepare),
           atomic_load(&atfork_parent), af);

    /* The first thread forks while the others churn. */
    tls_mark = 1;
    int main_bad = 0;
    for (int k = 0; k < ROUNDS; k++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_work(1));
        if (wait_status(pid) != 0)
            main_bad++;
    }
    printf("forks from the first thread with others running: %d bad of %d\n", main_bad, ROUNDS);

    pthread_t forkers[FORKERS];
    for (uintptr_t i = 0; i < FORKERS; i++)
        pthread_create(&forkers[i], NULL, forker_fn, (void *)i);
    for (int i = 0; i < FORKERS; i++)
        pthread_join(forkers[i], NULL);
    int bad = 0;
    for (int i = 0; i < FORKERS; i++)
        bad += forker_bad[i];
    printf("forks from %d threads at once: %d bad of %d\n", FORKERS, bad, FORKERS * ROUNDS);

    atomic_store(&churn_stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(churn[i], NULL);
    printf("churn went on: %s\n", churn_count > 0 ? "yes" : "no");
    return 0;
}
