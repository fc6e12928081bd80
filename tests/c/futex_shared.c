/* Futexes shared between processes: a FUTEX_WAIT (without FUTEX_PRIVATE_FLAG) on a
 * MAP_SHARED page is woken by another process's FUTEX_WAKE; and what is built on that:
 * POSIX named semaphores (sem_open), process-shared mutexes and condition variables.
 * Every wait gives up after 5 s, so a lost wake prints FAIL instead of hanging. */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define FUTEX_WAIT 0
#define FUTEX_WAKE 1

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void deadline_in(struct timespec *ts, int secs)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += secs;
}

/* The child's exit status: 0 when it saw the wake, 1 on a timeout, 2 otherwise. */
static int child_status(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

static const char *outcome(int status)
{
    return status == 0 ? "woken" : status == 1 ? "timed out" : "failed";
}

/* A raw futex on shared memory: the child waits until the word changes; the parent
 * changes it and wakes, retrying until one waiter was woken or the child has gone. */
static void raw_futex(const char *name, uint32_t *word)
{
    *word = 0;
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec five = {5, 0};
        while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == 0) {
            long r = syscall(SYS_futex, word, FUTEX_WAIT, 0, &five, NULL, 0);
            if (r == -1 && errno == ETIMEDOUT)
                _exit(1);
        }
        _exit(0);
    }
    pause_ms(50);
    __atomic_store_n(word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
    char label[64];
    snprintf(label, sizeof label, "%s_woken_across_processes", name);
    int st = child_status(pid);
    checkf(label, st == 0, "%s", outcome(st));
}

static void named_semaphore(void)
{
    char name[64];
    snprintf(name, sizeof name, "/linuxrun-test-%d", getpid());
    sem_t *sem = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    check("sem_open", sem != SEM_FAILED);
    if (sem == SEM_FAILED)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts;
        deadline_in(&ts, 5);
        if (sem_timedwait(sem, &ts) == 0)
            _exit(0);
        _exit(errno == ETIMEDOUT ? 1 : 2);
    }
    pause_ms(50);
    expect_ok("sem_post", sem_post(sem));
    int st = child_status(pid);
    checkf("sem_wait_in_other_process", st == 0, "%s", outcome(st));
    sem_close(sem);
    sem_unlink(name);
}

struct shared_sync {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int ready;
    long counter;
};

static void process_shared_mutex_and_cond(void)
{
    struct shared_sync *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->mutex, &ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_cond_init(&s->cond, &ca);
    s->ready = 0;
    s->counter = 0;
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts;
        deadline_in(&ts, 5);
        pthread_mutex_lock(&s->mutex);
        int r = 0;
        while (!s->ready && r == 0)
            r = pthread_cond_timedwait(&s->cond, &s->mutex, &ts);
        pthread_mutex_unlock(&s->mutex);
        if (r != 0)
            _exit(1);
        /* Contend for the mutex with the parent. */
        for (int i = 0; i < 20000; i++) {
            pthread_mutex_lock(&s->mutex);
            s->counter++;
            pthread_mutex_unlock(&s->mutex);
        }
        _exit(0);
    }
    pause_ms(50);
    pthread_mutex_lock(&s->mutex);
    s->ready = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mutex);
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&s->mutex);
        s->counter++;
        pthread_mutex_unlock(&s->mutex);
    }
    int st = child_status(pid);
    checkf("pshared_cond_signal_across_processes", st == 0, "%s", outcome(st));
    checkf("pshared_mutex_counter", s->counter == 40000, "%ld", s->counter);
    munmap(s, sizeof *s);
}

int main(void)
{
    uint32_t *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    raw_futex("shared_anonymous", anon);

    char path[] = "futex_shared_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0 && ftruncate(fd, 4096) == 0) {
        uint32_t *file = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        raw_futex("shared_file", file);
        munmap(file, 4096);
    }
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    named_semaphore();
    process_shared_mutex_and_cond();
    return finish();
}
