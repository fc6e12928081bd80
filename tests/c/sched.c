/* The scheduler calls (issue 27 item 7) with the host's semantics: policies and priorities
 * per thread (pid 0 is the calling thread, a thread's id names that thread), the fixed
 * priority ranges, sched_rr_get_interval, CPU affinity that reads back what was set, and
 * Linux's errnos. SCHED_FIFO needs privilege: whatever the native run gets (0 as root,
 * EPERM otherwise), linuxrun must get too. */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static const char *result(long r)
{
    return r == -1 ? errname(errno) : "ok";
}

static volatile pid_t worker_tid;
static volatile int worker_go, worker_done;

static void *worker(void *arg)
{
    (void)arg;
    struct sched_param p = {0};
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int r = sched_setscheduler(0, SCHED_BATCH, &p);
    checkf("thread_setscheduler_batch", r == 0, "%s", result(r));
    fflush(stdout);
    /* Published only now: the main thread's lines come after this one, and it sees the
     * policy already set. */
    worker_tid = tid;
    while (!worker_go)
        usleep(1000);
    worker_done = 1;
    return NULL;
}

int main(void)
{
    struct sched_param p = {0};
    checkf("priority_range_fifo", 1, "%d..%d", sched_get_priority_min(SCHED_FIFO), sched_get_priority_max(SCHED_FIFO));
    checkf("priority_range_rr", 1, "%d..%d", sched_get_priority_min(SCHED_RR), sched_get_priority_max(SCHED_RR));
    checkf("priority_range_other", 1, "%d..%d", sched_get_priority_min(SCHED_OTHER), sched_get_priority_max(SCHED_OTHER));
    checkf("priority_range_batch_idle", 1, "%d %d", sched_get_priority_max(SCHED_BATCH), sched_get_priority_max(SCHED_IDLE));
    expect_err("priority_range_bad", sched_get_priority_max(42), EINVAL);
    expect_err("priority_min_bad", sched_get_priority_min(-1), EINVAL);

    checkf("getscheduler_self", sched_getscheduler(0) == SCHED_OTHER, "%d", sched_getscheduler(0));
    expect_err("getscheduler_negative", sched_getscheduler(-1), EINVAL);
    expect_err("getparam_null", syscall(SYS_sched_getparam, 0, NULL), EINVAL);

    /* Errors before any change. */
    expect_err("setscheduler_bad_policy", sched_setscheduler(0, 42, &p), EINVAL);
    p.sched_priority = 5;
    expect_err("setscheduler_other_with_priority", sched_setscheduler(0, SCHED_OTHER, &p), EINVAL);
    p.sched_priority = 0;
    expect_err("setscheduler_fifo_priority_0", sched_setscheduler(0, SCHED_FIFO, &p), EINVAL);
    p.sched_priority = 100;
    expect_err("setscheduler_fifo_priority_100", sched_setscheduler(0, SCHED_FIFO, &p), EINVAL);
    expect_err("setscheduler_null", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL), EINVAL);
    expect_err("setscheduler_negative_pid", sched_setscheduler(-1, SCHED_OTHER, &p), EINVAL);
    expect_err("setscheduler_efault", syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, (void *)8), EFAULT);
    expect_err("setparam_null", syscall(SYS_sched_setparam, 0, NULL), EINVAL);

    /* A process that is gone. */
    fflush(stdout);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    p.sched_priority = 0;
    expect_err("setscheduler_gone", sched_setscheduler(gone, SCHED_OTHER, &p), ESRCH);
    expect_err("getscheduler_gone", sched_getscheduler(gone), ESRCH);
    struct timespec ts;
    expect_err("rr_interval_gone", sched_rr_get_interval(gone, &ts), ESRCH);
    cpu_set_t set;
    CPU_ZERO(&set);
    expect_err("getaffinity_gone", sched_getaffinity(gone, sizeof set, &set), ESRCH);

    /* Policies that need no privilege, and back. */
    long r = sched_setscheduler(0, SCHED_BATCH, &p);
    checkf("setscheduler_batch", r == 0, "%s", result(r));
    checkf("getscheduler_batch", sched_getscheduler(0) == SCHED_BATCH, "%d", sched_getscheduler(0));
    checkf("getscheduler_by_pid", sched_getscheduler(getpid()) == SCHED_BATCH, "%d", sched_getscheduler(getpid()));
    r = sched_setscheduler(0, SCHED_IDLE, &p);
    checkf("setscheduler_idle", r == 0, "%s", result(r));
    checkf("getscheduler_idle", sched_getscheduler(0) == SCHED_IDLE, "%d", sched_getscheduler(0));
    r = sched_setscheduler(0, SCHED_OTHER, &p);
    checkf("setscheduler_other_from_idle", 1, "%s", result(r));
    r = sched_setparam(0, &p);
    checkf("setparam_other", r == 0, "%s", result(r));

    /* Real time: privileged. */
    p.sched_priority = 1;
    r = sched_setscheduler(0, SCHED_RR, &p);
    checkf("setscheduler_rr", 1, "%s", result(r));
    if (r == 0) {
        struct sched_param got = {0};
        sched_getparam(0, &got);
        checkf("getparam_rr", got.sched_priority == 1, "%d", got.sched_priority);
        checkf("getscheduler_rr", sched_getscheduler(0) == SCHED_RR, "%d", sched_getscheduler(0));
        r = sched_rr_get_interval(0, &ts);
        checkf("rr_interval_rr", r == 0 && (ts.tv_sec > 0 || ts.tv_nsec > 0), "%s", result(r));
        p.sched_priority = 2;
        r = sched_setparam(0, &p);
        sched_getparam(0, &got);
        checkf("setparam_rr", r == 0 && got.sched_priority == 2, "%d", got.sched_priority);
        p.sched_priority = 0;
        sched_setscheduler(0, SCHED_OTHER, &p);
    }
    checkf("back_to_other", sched_getscheduler(0) == SCHED_OTHER, "%d", sched_getscheduler(0));
    expect_err("rr_interval_negative", sched_rr_get_interval(-1, &ts), EINVAL);
    expect_err("rr_interval_efault", syscall(SYS_sched_rr_get_interval, 0, (void *)8), EFAULT);

    /* Per thread: a thread's policy is its own. */
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    while (!worker_tid)
        usleep(1000);
    usleep(20000);
    checkf("thread_policy_seen_by_tid", sched_getscheduler(worker_tid) == SCHED_BATCH, "%d",
           sched_getscheduler(worker_tid));
    checkf("main_policy_unchanged", sched_getscheduler(0) == SCHED_OTHER, "%d", sched_getscheduler(0));

    /* Affinity: one CPU for the thread, read back by its id; the main thread keeps its own. */
    cpu_set_t all, one;
    CPU_ZERO(&all);
    int n = sched_getaffinity(0, sizeof all, &all);
    checkf("getaffinity", n == 0, "%s", result(n));
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &all))
            first = i;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    r = sched_setaffinity(worker_tid, sizeof one, &one);
    checkf("setaffinity_thread", r == 0, "%s", result(r));
    CPU_ZERO(&set);
    sched_getaffinity(worker_tid, sizeof set, &set);
    checkf("thread_affinity_read_back", CPU_EQUAL(&set, &one), "%d cpus", CPU_COUNT(&set));
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    checkf("main_affinity_unchanged", CPU_EQUAL(&set, &all), "");
    worker_go = 1;
    pthread_join(t, NULL);

    r = sched_setaffinity(0, sizeof one, &one);
    checkf("setaffinity_self", r == 0, "%s", result(r));
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    checkf("self_affinity_read_back", CPU_EQUAL(&set, &one), "");
    sched_setaffinity(0, sizeof all, &all);
    CPU_ZERO(&set);
    expect_err("setaffinity_empty", sched_setaffinity(0, sizeof set, &set), EINVAL);
    expect_err("setaffinity_efault", syscall(SYS_sched_setaffinity, 0, sizeof set, (void *)8), EFAULT);
    expect_err("getaffinity_short", syscall(SYS_sched_getaffinity, 0, 1, &set), EINVAL);
    expect_err("getaffinity_unaligned", syscall(SYS_sched_getaffinity, 0, 12, &set), EINVAL);
    long raw = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    checkf("getaffinity_raw_size", raw > 0, "%ld", raw);
    return finish();
}
