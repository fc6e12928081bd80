/* Threads, the basics: pthread_create/join/detach and return values, 64 threads alive
 * at once, 1000 create/join cycles, __thread variables per thread, pthread_key
 * destructors at thread exit, gettid against getpid, pthread_exit, thread stacks.
 * Threads only record what they see; main prints, so the output order is fixed. */
#include "common.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/syscall.h>

static long tid(void) { return syscall(SYS_gettid); }

static void *ret_arg_times3(void *arg) { return (void *)((uintptr_t)arg * 3); }

/* --- detach --- */
static sem_t detached_done;
static volatile int detached_ran;
static void *detached_fn(void *arg)
{
    (void)arg;
    detached_ran = 1;
    sem_post(&detached_done);
    return NULL;
}

/* --- 64 threads at once --- */
#define MANY 64
static pthread_barrier_t many_barrier;
static long many_tids[MANY];
static volatile int many_cpu_bad;
static void *many_fn(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    many_tids[i] = tid();
    /* Every thread is alive here at the same time. */
    int r = pthread_barrier_wait(&many_barrier);
    /* Linux's CPU number is below the count of configured (possible) CPUs, whatever the
     * number of threads: programs index per-CPU arrays with it. */
    unsigned cpu = 0;
    if (syscall(SYS_getcpu, &cpu, NULL, NULL) != 0 || cpu >= (unsigned)sysconf(_SC_NPROCESSORS_CONF))
        many_cpu_bad = 1;
    return (void *)(uintptr_t)(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD ? i + 1 : 0);
}

/* --- TLS --- */
static __thread int tls_init = 42;
static __thread unsigned long tls_value;
static __thread char tls_array[4096];
#define TLS_THREADS 8
static pthread_barrier_t tls_barrier;
struct tls_result {
    int init_seen;
    int value_kept;
    int array_kept;
    uintptr_t addr;
};
static struct tls_result tls_results[TLS_THREADS];
static void *tls_fn(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    struct tls_result *r = &tls_results[i];
    r->init_seen = tls_init;
    tls_value = i * 1000 + 7;
    memset(tls_array, (int)i + 1, sizeof tls_array);
    r->addr = (uintptr_t)&tls_value;
    /* Everyone has written their own copy before anyone reads it back. */
    pthread_barrier_wait(&tls_barrier);
    r->value_kept = tls_value == i * 1000 + 7;
    int same = 1;
    for (size_t k = 0; k < sizeof tls_array; k++)
        same &= tls_array[k] == (char)(i + 1);
    r->array_kept = same;
    pthread_barrier_wait(&tls_barrier);
    return NULL;
}

/* --- /proc sees the threads --- */
static pthread_barrier_t proc_barrier;
static void *proc_fn(void *arg)
{
    pthread_barrier_wait(&proc_barrier); /* alive... */
    pthread_barrier_wait(&proc_barrier); /* ...until main has looked */
    return arg;
}

/* The number in /proc/self/status's "Threads:" line. */
static int status_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0)
            n = atoi(line + 8);
    if (f)
        fclose(f);
    return n;
}

/* --- pthread_key destructors --- */
static pthread_key_t key;
static int destructor_calls;
static unsigned long destructor_sum;
static pthread_mutex_t destructor_lock = PTHREAD_MUTEX_INITIALIZER;
static void key_destructor(void *v)
{
    pthread_mutex_lock(&destructor_lock);
    destructor_calls++;
    destructor_sum += (uintptr_t)v;
    pthread_mutex_unlock(&destructor_lock);
}
static void *key_fn(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    /* Threads with an odd index leave the value NULL: no destructor call for them. */
    if (i % 2 == 0)
        pthread_setspecific(key, (void *)(i + 1));
    return pthread_getspecific(key);
}

/* --- gettid --- */
struct ids {
    long tid, pid;
    /* Calls that take a thread id (glibc's pthread_getattr_np asks sched_getaffinity). */
    int affinity_own_tid, affinity_same_as_process, prlimit_own_tid, attr_ok;
};
static void *ids_fn(void *arg)
{
    struct ids *out = arg;
    out->tid = tid();
    out->pid = getpid();
    cpu_set_t mine, process;
    CPU_ZERO(&mine);
    CPU_ZERO(&process);
    out->affinity_own_tid = sched_getaffinity((pid_t)out->tid, sizeof mine, &mine) == 0;
    sched_getaffinity(getpid(), sizeof process, &process);
    out->affinity_same_as_process = CPU_EQUAL(&mine, &process);
    struct rlimit lim;
    out->prlimit_own_tid = prlimit((pid_t)out->tid, RLIMIT_STACK, NULL, &lim) == 0;
    pthread_attr_t attr;
    out->attr_ok = pthread_getattr_np(pthread_self(), &attr) == 0;
    if (out->attr_ok)
        pthread_attr_destroy(&attr);
    return NULL;
}

/* --- pthread_exit --- */
static int exit_after_ran;
static __attribute__((noinline)) void exit_inner(void *v)
{
    pthread_exit(v);
}
static __attribute__((noinline)) void exit_outer(void *v)
{
    exit_inner(v);
    exit_after_ran = 2;
}
static void *exit_fn(void *arg)
{
    exit_outer(arg);
    exit_after_ran = 1;
    return NULL;
}

/* --- stacks --- */
static void *big_stack_fn(void *arg)
{
    (void)arg;
    volatile char buf[4 << 20];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = (char)i;
    unsigned long sum = 0;
    for (size_t i = 0; i < sizeof buf; i += 4096)
        sum += (unsigned char)buf[i];
    return (void *)sum;
}
static void *small_stack_fn(void *arg)
{
    volatile char buf[8192];
    buf[0] = 1;
    buf[sizeof buf - 1] = 2;
    return (void *)((uintptr_t)arg + buf[0] + buf[sizeof buf - 1]);
}

static pthread_t self_seen;
static void *self_fn(void *arg)
{
    (void)arg;
    self_seen = pthread_self();
    return NULL;
}

int main(void)
{
    /* create/join with return values */
    {
        pthread_t t[4];
        int created = 1, values = 1;
        for (uintptr_t i = 0; i < 4; i++)
            created &= pthread_create(&t[i], NULL, ret_arg_times3, (void *)(i + 1)) == 0;
        for (uintptr_t i = 0; i < 4; i++) {
            void *v = NULL;
            values &= pthread_join(t[i], &v) == 0 && (uintptr_t)v == (i + 1) * 3;
        }
        check("create", created);
        check("join_values", values);
    }

    /* pthread_self inside the thread equals the handle create gave. */
    {
        pthread_t t;
        pthread_create(&t, NULL, self_fn, NULL);
        pthread_join(t, NULL);
        check("pthread_self", pthread_equal(t, self_seen));
        check("main_self_differs", !pthread_equal(pthread_self(), self_seen));
    }

    /* detach: the thread still runs; nobody joins it. */
    {
        sem_init(&detached_done, 0, 0);
        pthread_t t;
        int rc = pthread_create(&t, NULL, detached_fn, NULL);
        expect_rc("detach", rc == 0 ? pthread_detach(t) : rc, 0);
        sem_wait(&detached_done);
        check("detached_ran", detached_ran);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        detached_ran = 0;
        expect_rc("create_detached", pthread_create(&t, &attr, detached_fn, NULL), 0);
        sem_wait(&detached_done);
        check("create_detached_ran", detached_ran);
        pthread_attr_destroy(&attr);
    }

    /* 64 threads alive at the same time, each its own tid. */
    {
        pthread_t t[MANY];
        pthread_barrier_init(&many_barrier, NULL, MANY);
        int created = 0;
        for (uintptr_t i = 0; i < MANY; i++)
            created += pthread_create(&t[i], NULL, many_fn, (void *)i) == 0;
        int joined = 0;
        for (uintptr_t i = 0; i < (uintptr_t)created; i++) {
            void *v;
            joined += pthread_join(t[i], &v) == 0 && (uintptr_t)v == i + 1;
        }
        checkf("threads_64_created", created == MANY, "%d", created);
        checkf("threads_64_through_barrier", joined == MANY, "%d", joined);
        int distinct = 1;
        for (int i = 0; i < MANY; i++) {
            distinct &= many_tids[i] != getpid() && many_tids[i] > 0;
            for (int j = 0; j < i; j++)
                distinct &= many_tids[i] != many_tids[j];
        }
        check("threads_64_distinct_tids", distinct);
        check("threads_64_getcpu_below_nprocs_conf", !many_cpu_bad);
        pthread_barrier_destroy(&many_barrier);
    }

    /* 1000 create/join cycles. */
    {
        int good = 0;
        for (uintptr_t i = 0; i < 1000; i++) {
            pthread_t t;
            void *v = NULL;
            if (pthread_create(&t, NULL, ret_arg_times3, (void *)i) != 0)
                break;
            if (pthread_join(t, &v) == 0 && (uintptr_t)v == i * 3)
                good++;
        }
        checkf("create_join_1000", good == 1000, "%d", good);
    }

    /* __thread: every thread starts from the initial image, has its own copy. */
    {
        tls_init = 99;
        tls_value = 12345;
        pthread_t t[TLS_THREADS];
        pthread_barrier_init(&tls_barrier, NULL, TLS_THREADS);
        for (uintptr_t i = 0; i < TLS_THREADS; i++)
            pthread_create(&t[i], NULL, tls_fn, (void *)i);
        for (int i = 0; i < TLS_THREADS; i++)
            pthread_join(t[i], NULL);
        int init = 1, kept = 1, arr = 1, addrs = 1;
        for (int i = 0; i < TLS_THREADS; i++) {
            init &= tls_results[i].init_seen == 42;
            kept &= tls_results[i].value_kept;
            arr &= tls_results[i].array_kept;
            addrs &= tls_results[i].addr != (uintptr_t)&tls_value;
            for (int j = 0; j < i; j++)
                addrs &= tls_results[i].addr != tls_results[j].addr;
        }
        check("tls_initial_image", init);
        check("tls_values_distinct", kept);
        check("tls_array_distinct", arr);
        check("tls_addresses_distinct", addrs);
        check("tls_main_untouched", tls_init == 99 && tls_value == 12345);
        pthread_barrier_destroy(&tls_barrier);
    }

    /* pthread_key destructors run at thread exit, for non-NULL values only. */
    {
        expect_rc("key_create", pthread_key_create(&key, key_destructor), 0);
        pthread_t t[8];
        for (uintptr_t i = 0; i < 8; i++)
            pthread_create(&t[i], NULL, key_fn, (void *)i);
        int values = 1;
        for (uintptr_t i = 0; i < 8; i++) {
            void *v;
            pthread_join(t[i], &v);
            values &= (uintptr_t)v == (i % 2 == 0 ? i + 1 : 0);
        }
        check("key_values_per_thread", values);
        checkf("key_destructor_calls", destructor_calls == 4, "%d", destructor_calls);
        checkf("key_destructor_sum", destructor_sum == 1 + 3 + 5 + 7, "%lu", destructor_sum);
        check("key_main_unset", pthread_getspecific(key) == NULL);
        pthread_key_delete(key);
    }

    /* gettid: equals getpid in main, differs in a thread that has the same pid. */
    {
        check("main_tid_is_pid", tid() == getpid());
        struct ids ids;
        pthread_t t;
        pthread_create(&t, NULL, ids_fn, &ids);
        pthread_join(t, NULL);
        check("thread_tid_differs", ids.tid != getpid() && ids.tid > 0);
        check("thread_pid_same", ids.pid == getpid());
        check("sched_getaffinity_of_thread_tid", ids.affinity_own_tid);
        check("sched_getaffinity_thread_is_process", ids.affinity_same_as_process);
        check("prlimit_of_thread_tid", ids.prlimit_own_tid);
        check("pthread_getattr_np_in_thread", ids.attr_ok);
    }

    /* pthread_exit from a nested call: the value reaches join, the rest does not run. */
    {
        pthread_t t;
        void *v = NULL;
        pthread_create(&t, NULL, exit_fn, (void *)0x5151);
        pthread_join(t, &v);
        check("pthread_exit_value", (uintptr_t)v == 0x5151);
        check("pthread_exit_no_return", !exit_after_ran);
    }

    /* Stacks: a 4 MiB array on an 8 MiB thread stack (musl's default is smaller), and a
     * 64 KiB stack. */
    {
        pthread_t t;
        void *v = NULL;
        pthread_attr_t big;
        pthread_attr_init(&big);
        pthread_attr_setstacksize(&big, 8 << 20);
        if (pthread_create(&t, &big, big_stack_fn, NULL) == 0)
            pthread_join(t, &v);
        pthread_attr_destroy(&big);
        unsigned long want = 0;
        for (size_t i = 0; i < (4 << 20); i += 4096)
            want += (unsigned char)(char)i;
        check("big_stack", (unsigned long)(uintptr_t)v == want);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        int rc = pthread_create(&t, &attr, small_stack_fn, (void *)10);
        v = NULL;
        if (rc == 0)
            pthread_join(t, &v);
        check("small_stack", rc == 0 && (uintptr_t)v == 13);
        pthread_attr_destroy(&attr);
    }

    /* /proc/self/task lists every thread, status counts them, thread-self is the caller. */
    {
        pthread_t t[3];
        pthread_barrier_init(&proc_barrier, NULL, 4);
        for (int i = 0; i < 3; i++)
            pthread_create(&t[i], NULL, proc_fn, NULL);
        pthread_barrier_wait(&proc_barrier);
        int entries = 0;
        DIR *d = opendir("/proc/self/task");
        for (struct dirent *e; d && (e = readdir(d));)
            entries += e->d_name[0] != '.';
        if (d)
            closedir(d);
        checkf("proc_task_entries", entries == 4, "%d", entries);
        checkf("proc_status_threads", status_threads() == 4, "%d", status_threads());
        char path[64], link[64] = {0}, want[64];
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid());
        check("proc_task_own_dir", access(path, R_OK) == 0);
        snprintf(want, sizeof want, "%d/task/%ld", getpid(), tid());
        check("proc_thread_self", readlink("/proc/thread-self", link, sizeof link - 1) > 0 && strcmp(link, want) == 0);
        pthread_barrier_wait(&proc_barrier);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
    }

    return finish();
}
