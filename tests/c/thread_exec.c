/* execve from a threaded program, as Linux does it (de_thread): every other thread dies
 * first, whatever it is doing (spinning in user code, sleeping, blocked in a pipe read,
 * waiting on a condition variable or at a barrier), and the exec'ing thread takes the
 * leader's id: in the new program getpid() == gettid() and the pid is the old one.
 * Each scenario runs in a child process that re-executes this program ("after" stage),
 * which checks its ids, that it is alone (/proc/self/task, Threads:), and that it can
 * make threads and fork. Scenarios: exec from a thread other than the first, from the
 * first, from a thread after the first has called pthread_exit, from two threads at once
 * (one wins), from a thread of a child forked by a thread, and twice in a row. */
#include "common.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static long tid(void) { return syscall(SYS_gettid); }

static char self_path[4096];

/* --- the new program --- */

static void *after_thread_fn(void *arg) { return (void *)((uintptr_t)arg * 2); }

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int status_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static void from_thread(void);
static const char *scenario;

static int after(const char *name, const char *old_pid)
{
    int failures = 0;
    printf("%s after: getpid()==gettid(): %s\n", name, getpid() == tid() ? "yes" : "no");
    printf("%s after: same pid: %s\n", name, getpid() == atoi(old_pid) ? "yes" : "no");
    printf("%s after: tasks: %d, Threads: %d\n", name, count_tasks(), status_threads());
    /* The new program's own threads. */
    pthread_t t[4];
    int ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= pthread_create(&t[i], NULL, after_thread_fn, (void *)(uintptr_t)(i + 1)) == 0;
    for (int i = 0; ok && i < 4; i++) {
        void *r;
        ok &= pthread_join(t[i], &r) == 0 && (uintptr_t)r == (uintptr_t)(2 * (i + 1));
    }
    printf("%s after: threads: %s\n", name, ok ? "ok" : "FAILED");
    failures += !ok;
    /* A fork, and many forwarded calls (its requests go to a worker or by exit). */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct stat st;
        for (int i = 0; i < 200; i++)
            if (stat("/", &st) != 0)
                _exit(1);
        _exit(getpid() == tid() ? 7 : 8);
    }
    int st = 0;
    waitpid(c, &st, 0);
    printf("%s after: fork child: %d\n", name, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    fflush(stdout);
    /* Again from a thread of the new program, whose first thread came from a thread. */
    if (strcmp(name, "twice") == 0) {
        scenario = "twice-again";
        from_thread();
    }
    return failures;
}

/* --- the old program's threads --- */

static int pipe_fds[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t started;
static volatile unsigned long spins;

static void *spinner(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    for (;;)
        spins++;
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    for (;;)
        sleep(100);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    char c;
    for (;;)
        if (read(pipe_fds[0], &c, 1) <= 0)
            break;
    return NULL;
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    pthread_mutex_lock(&lock);
    for (;;)
        pthread_cond_wait(&never, &lock);
    return NULL;
}

static void do_exec(int say)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    if (say) {
        printf("%s before exec\n", scenario);
        fflush(stdout);
    }
    char *argv[] = {self_path, "after", (char *)scenario, pid, NULL};
    execv(self_path, argv);
    printf("%s: execv failed: %s\n", scenario, strerror(errno));
    fflush(stdout);
    _exit(99);
}

static atomic_int go_exec;

static void *execer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    /* The others are at work (or about to be); give them a moment to block. */
    usleep(20000);
    /* Of two that exec at once, neither says so: either may win, and the loser may die
     * before its line is out. */
    do_exec(atomic_load(&go_exec) == 0);
    return NULL;
}

/* Start the busy threads (and `execers` threads that exec); the barrier includes main. */
static void start_threads(int execers)
{
    if (pipe(pipe_fds) != 0)
        exit(90);
    void *(*fns[])(void *) = {spinner, sleeper, reader, cond_waiter};
    int n = 4 + execers;
    pthread_barrier_init(&started, NULL, n + 1);
    pthread_t t;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t, NULL, fns[i], NULL) != 0)
            exit(91);
    for (int i = 0; i < execers; i++)
        if (pthread_create(&t, NULL, execer, NULL) != 0)
            exit(92);
    pthread_barrier_wait(&started);
}

/* Each scenario in its own process; returns its exit status. */
static int run_scenario(const char *name, void (*fn)(void))
{
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        scenario = name;
        fn();
        _exit(98);
    }
    int st = 0;
    if (waitpid(c, &st, 0) != c)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void from_thread(void)
{
    start_threads(1);
    for (;;)
        pause();
}

static void from_main(void)
{
    start_threads(0);
    usleep(20000);
    do_exec(1);
}

static void after_main_exited(void)
{
    start_threads(1);
    pthread_exit(NULL);
}

static void two_at_once(void)
{
    atomic_store(&go_exec, 1);
    start_threads(2);
    for (;;)
        pause();
}

/* A thread forks; in that child (whose first thread is the forking one), a new thread
 * execs while the first spins. */
static void *fork_then_exec_fn(void *arg)
{
    (void)arg;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        pthread_t t;
        pthread_barrier_init(&started, NULL, 2);
        if (pthread_create(&t, NULL, execer, NULL) != 0)
            _exit(93);
        pthread_barrier_wait(&started);
        for (;;)
            spins++;
    }
    int st = 0;
    waitpid(c, &st, 0);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
    return NULL;
}

static void forked_by_thread(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fork_then_exec_fn, NULL) != 0)
        _exit(94);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        return 97;
    self_path[n] = 0;
    if (argc == 4 && strcmp(argv[1], "after") == 0)
        return after(argv[2], argv[3]);
    printf("from-thread: status %d\n", run_scenario("from-thread", from_thread));
    printf("from-main: status %d\n", run_scenario("from-main", from_main));
    printf("main-exited: status %d\n", run_scenario("main-exited", after_main_exited));
    printf("two-at-once: status %d\n", run_scenario("two-at-once", two_at_once));
    printf("forked-by-thread: status %d\n", run_scenario("forked-by-thread", forked_by_thread));
    printf("twice: status %d\n", run_scenario("twice", from_thread));
    return 0;
}
