/* Micro-benchmarks for scripts/bench (docs/benchmarks.md).
 *
 *   micro [ITERATIONS [CASE...]]   (default 100000 iterations, every case)
 *
 * Prints one line per case: "<case> <ns per op> <ops>". Build with gcc -static -O2.
 * Every case goes through syscall(2) or a plain libc wrapper, so what is timed is the
 * kernel round trip (or, for clock_gettime_libc, what programs really call: a vDSO read
 * natively). Process cases (fork_wait, fork_exec_wait, vfork_exec_fail, pipe_pingpong) cost tens of
 * microseconds to milliseconds per op, so they run ITERATIONS / their scale operations
 * (at least 10; the printed count says how many). fork_exec_wait and posix_spawn_wait execute `true_static`
 * from the directory of argv[0] (scripts/bench builds it), else /bin/true. Thread cases:
 * thread_create_join (an empty thread), futex_pingpong (two threads hand a futex word
 * back and forth, per round trip), mutex_uncontended (lock + unlock, no syscall), and
 * cpu_1thread / cpu_2threads (the same fixed amount of arithmetic, by one thread or split
 * between two: their ratio is the parallel speed-up). Network and event cases: tcp_rtt (1
 * byte there and back over a loopback TCP connection to a forked echo child, TCP_NODELAY),
 * tcp_bulk_1m (1 MiB sent over loopback TCP to a forked child that reads and discards it,
 * per MiB), eventfd_rw (write + read of an eventfd), epoll_ready (epoll_wait that finds
 * one ready eventfd). cpuid: the CPUID instruction (leaf 4), no syscall: what glibc's
 * start-up runs dozens of times, an exit to the hypervisor on any virtual machine. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define FAULT_REGION (16L << 20) /* pagefault: 16 MiB (4096 pages) per mmap */

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile int sink;
static int zero_fd, null_fd, pipe_fd[2];
static uint32_t futex_word;
static const char *file_path = "/etc/passwd";

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void op_getpid(void) { syscall(SYS_getpid); }

/* The instruction glibc's start-up runs dozens of times (cache and feature detection):
 * no syscall, but an exit to the hypervisor on every virtual machine. */
static void op_cpuid(void)
{
    unsigned a, b, c, d;
    __cpuid_count(4, 0, a, b, c, d);
    __asm__ volatile("" ::"r"(a), "r"(b), "r"(c), "r"(d));
}

static void op_clock_gettime_libc(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sink = ts.tv_nsec;
}

static void op_clock_gettime_raw(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    sink = ts.tv_nsec;
}

/* grow the break by one page and shrink it back: two brk calls per op */
static void op_brk(void)
{
    static uintptr_t base;
    if (!base)
        base = (uintptr_t)syscall(SYS_brk, 0);
    syscall(SYS_brk, base + PAGE);
    syscall(SYS_brk, base);
}

static void mmap_touch_unmap(size_t len)
{
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    p[0] = 1;
    munmap(p, len);
}

static void op_mmap_4k(void) { mmap_touch_unmap(PAGE); }
/* 2 MiB: the mapping is touched once (one fault); per-page first-touch cost is "pagefault" */
static void op_mmap_2m(void) { mmap_touch_unmap(2L << 20); }

static void op_futex_wake(void) { syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static void op_read_zero(void)
{
    char c;
    if (read(zero_fd, &c, 1) != 1)
        die("read /dev/zero");
}

static void op_write_null(void)
{
    char c = 'x';
    if (write(null_fd, &c, 1) != 1)
        die("write /dev/null");
}

static void op_open_close(void)
{
    int fd = open(file_path, O_RDONLY);
    if (fd < 0)
        die(file_path);
    close(fd);
}

static void op_stat(void)
{
    struct stat st;
    if (stat(file_path, &st) != 0)
        die(file_path);
}

static void op_pipe_roundtrip(void)
{
    char c = 'x';
    if (write(pipe_fd[1], &c, 1) != 1 || read(pipe_fd[0], &c, 1) != 1)
        die("pipe");
}

static void wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("waitpid");
}

static void op_fork_wait(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        _exit(0);
    wait_child(pid);
}

static char true_path[4096] = "/bin/true";

/* A static `true` next to this program (no dynamic loading in the timed exec), if present. */
static void find_true(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    if (!slash)
        return;
    char path[sizeof true_path];
    snprintf(path, sizeof path, "%.*s/true_static", (int)(slash - argv0), argv0);
    if (access(path, X_OK) == 0)
        strcpy(true_path, path);
}

static void op_fork_exec_wait(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char *argv[] = {true_path, NULL}, *envp[] = {NULL};
        execve(true_path, argv, envp);
        _exit(127);
    }
    wait_child(pid);
}

/* posix_spawn of the same static `true` (glibc: clone(CLONE_VM | CLONE_VFORK), then execve)
 * + waitpid: process creation that copies nothing exec throws away. */
static void op_posix_spawn_wait(void)
{
    char *argv[] = {true_path, NULL}, *envp[] = {NULL};
    pid_t pid;
    if (posix_spawn(&pid, true_path, NULL, NULL, argv, envp) != 0)
        die("posix_spawn");
    wait_child(pid);
}

/* subprocess's spawn of a program that does not exist: vfork, the child's execve fails, it
 * writes the errno to an O_CLOEXEC pipe and exits; the parent reads it and reaps the child. */
static void op_vfork_exec_fail(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        die("pipe2");
    pid_t pid = vfork();
    if (pid < 0)
        die("vfork");
    if (pid == 0) {
        char *argv[] = {"/nonexistent/program", NULL}, *envp[] = {NULL};
        execve(argv[0], argv, envp);
        int e = errno;
        syscall(SYS_write, p[1], &e, sizeof e);
        syscall(SYS_exit_group, 127);
    }
    close(p[1]);
    int e = 0;
    if (read(p[0], &e, sizeof e) != sizeof e || e != ENOENT)
        die("vfork_exec_fail: no ENOENT from the child");
    close(p[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 127)
        die("waitpid");
}

/* close() of a number that is not open (EBADF): what a child closing every descriptor up
 * to RLIMIT_NOFILE before exec does a million times. */
static long unopened;

static void op_close_unopened(void)
{
    if (syscall(SYS_close, (int)(100000 + unopened++ % 1000)) != -1)
        die("close of an unopened descriptor succeeded");
}

/* Two processes, two pipes: the parent sends 1 byte, the child echoes it. Per round trip. */
static int ping[2], pong[2];

static void op_pipe_pingpong(void)
{
    char c = 'x';
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
        die("pingpong");
}

static pid_t start_echo_child(void)
{
    if (pipe(ping) != 0 || pipe(pong) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char c;
        close(ping[1]);
        close(pong[0]);
        while (read(ping[0], &c, 1) == 1)
            if (write(pong[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(ping[0]);
    close(pong[1]);
    return pid;
}

static void stop_echo_child(pid_t pid)
{
    close(ping[1]);
    wait_child(pid);
    close(pong[0]);
}

/* --- network and events --- */
static int tcp_fd;

/* A connected loopback TCP pair: the parent keeps one end, a forked child runs `child`
 * on the other. */
static pid_t start_tcp_child(void (*child)(int))
{
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv, 1) != 0 ||
        getsockname(srv, (struct sockaddr *)&a, &len) != 0)
        die("tcp listen");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) != 0)
            _exit(1);
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        child(c);
        _exit(0);
    }
    tcp_fd = accept(srv, NULL, NULL);
    if (tcp_fd < 0)
        die("accept");
    int one = 1;
    setsockopt(tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    close(srv);
    return pid;
}

static void tcp_echo(int c)
{
    char b;
    while (read(c, &b, 1) == 1)
        if (write(c, &b, 1) != 1)
            _exit(1);
}

static void tcp_discard(int c)
{
    static char b[256 * 1024];
    while (read(c, b, sizeof b) > 0)
        ;
}

static void stop_tcp_child(pid_t pid)
{
    close(tcp_fd);
    wait_child(pid);
}

static void op_tcp_rtt(void)
{
    char c = 'x';
    if (write(tcp_fd, &c, 1) != 1 || read(tcp_fd, &c, 1) != 1)
        die("tcp_rtt");
}

static void op_tcp_bulk_1m(void)
{
    static char mib[1 << 20];
    for (size_t done = 0; done < sizeof mib;) {
        ssize_t n = write(tcp_fd, mib + done, sizeof mib - done);
        if (n <= 0)
            die("tcp_bulk");
        done += (size_t)n;
    }
}

static int event_fd, ready_fd, epoll_fd; /* ready_fd stays readable */

static void op_eventfd_rw(void)
{
    uint64_t v = 1;
    if (write(event_fd, &v, 8) != 8 || read(event_fd, &v, 8) != 8)
        die("eventfd");
}

static void op_epoll_ready(void)
{
    struct epoll_event ev;
    if (epoll_wait(epoll_fd, &ev, 1, -1) != 1)
        die("epoll_wait");
}

/* --- threads --- */
static void *empty_thread(void *arg)
{
    return arg;
}

static void op_thread_create_join(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, empty_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
        die("pthread_create/join");
}

static void *fork_wait_in_thread(void *arg)
{
    (void)arg;
    op_fork_wait();
    return NULL;
}

/* A fork made by a thread other than the first while the first waits in pthread_join (under
 * linuxrun the fork gate stops it first). */
static void op_fork_wait_thread(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fork_wait_in_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
        die("pthread_create/join");
}

/* futex_pingpong: the word says whose turn it is (0: main's, 1: the partner's, 2: stop). */
static uint32_t turn;
static pthread_t partner;

static void futex_wait_while(uint32_t *w, uint32_t v)
{
    while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == v)
        syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void pass_turn(uint32_t v)
{
    __atomic_store_n(&turn, v, __ATOMIC_RELEASE);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *partner_fn(void *arg)
{
    (void)arg;
    for (;;) {
        futex_wait_while(&turn, 0);
        if (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) == 2)
            return NULL;
        pass_turn(0);
    }
}

static void op_futex_pingpong(void)
{
    pass_turn(1);
    futex_wait_while(&turn, 1);
}

static void start_partner(void)
{
    turn = 0;
    if (pthread_create(&partner, NULL, partner_fn, NULL) != 0)
        die("pthread_create");
}

static void stop_partner(void)
{
    pass_turn(2);
    pthread_join(partner, NULL);
}

static pthread_mutex_t plain_mutex = PTHREAD_MUTEX_INITIALIZER;

static void op_mutex_uncontended(void)
{
    pthread_mutex_lock(&plain_mutex);
    sink++;
    pthread_mutex_unlock(&plain_mutex);
}

/* cpu_*: 2^24 steps of a multiply-add chain per operation, by one or two threads. */
#define CPU_STEPS (1L << 24)

static void *cpu_work(void *arg)
{
    uint64_t x = (uintptr_t)arg | 1;
    for (long i = 0; i < CPU_STEPS / 2; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += (int)x;
    return NULL;
}

static void op_cpu_1thread(void)
{
    cpu_work((void *)1);
    cpu_work((void *)2);
}

static void op_cpu_2threads(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, cpu_work, (void *)1) != 0)
        die("pthread_create");
    cpu_work((void *)2);
    pthread_join(t, NULL);
}

/* First touch of fresh anonymous memory: ns per 4 KiB page, 16 MiB mappings. */
static long long run_pagefault(long iters)
{
    long pages_per = FAULT_REGION / PAGE, done = 0;
    long long t0 = now_ns();
    while (done < iters) {
        char *p = mmap(NULL, FAULT_REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            die("mmap");
        for (long i = 0; i < pages_per && done < iters; i++, done++)
            p[i * PAGE] = 1;
        munmap(p, FAULT_REGION);
    }
    return now_ns() - t0;
}

static const struct {
    const char *name;
    void (*op)(void);
    long scale; /* operations = ITERATIONS / scale (at least 10); warm-up 1000 / scale */
} cases[] = {
    {"getpid", op_getpid, 1},
    {"clock_gettime_libc", op_clock_gettime_libc, 1},
    {"clock_gettime_raw", op_clock_gettime_raw, 1},
    {"brk", op_brk, 1},
    {"mmap_4k", op_mmap_4k, 1},
    {"mmap_2m", op_mmap_2m, 1},
    {"futex_wake", op_futex_wake, 1},
    {"read_zero", op_read_zero, 1},
    {"write_null", op_write_null, 1},
    {"open_close", op_open_close, 1},
    {"stat", op_stat, 1},
    {"pipe_roundtrip", op_pipe_roundtrip, 1},
    {"close_unopened", op_close_unopened, 1},
    {"pagefault", NULL, 1},
    {"cpuid", op_cpuid, 10},
    {"fork_wait", op_fork_wait, 1000},
    {"fork_exec_wait", op_fork_exec_wait, 1000},
    {"posix_spawn_wait", op_posix_spawn_wait, 1000},
    {"vfork_exec_fail", op_vfork_exec_fail, 1000},
    {"pipe_pingpong", op_pipe_pingpong, 10},
    {"thread_create_join", op_thread_create_join, 10},
    {"fork_wait_thread", op_fork_wait_thread, 1000},
    {"futex_pingpong", op_futex_pingpong, 10},
    {"mutex_uncontended", op_mutex_uncontended, 1},
    {"cpu_1thread", op_cpu_1thread, 10000},
    {"cpu_2threads", op_cpu_2threads, 10000},
    {"tcp_rtt", op_tcp_rtt, 10},
    {"tcp_bulk_1m", op_tcp_bulk_1m, 1000},
    {"eventfd_rw", op_eventfd_rw, 1},
    {"epoll_ready", op_epoll_ready, 1},
};

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 100000;
    if (iters <= 0) {
        fprintf(stderr, "usage: %s [ITERATIONS [CASE...]]\n", argv[0]);
        return 2;
    }
    if ((zero_fd = open("/dev/zero", O_RDONLY)) < 0)
        die("/dev/zero");
    if ((null_fd = open("/dev/null", O_WRONLY)) < 0)
        die("/dev/null");
    if (pipe(pipe_fd) != 0)
        die("pipe");
    find_true(argv[0]);
    event_fd = eventfd(0, 0);
    ready_fd = eventfd(1, 0);
    epoll_fd = epoll_create1(0);
    struct epoll_event ready = {.events = EPOLLIN};
    if (event_fd < 0 || ready_fd < 0 || epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, ready_fd, &ready) != 0)
        die("eventfd/epoll");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (argc > 2) {
            int wanted = 0;
            for (int a = 2; a < argc; a++)
                wanted |= strcmp(argv[a], cases[c].name) == 0;
            if (!wanted)
                continue;
        }
        long long ns;
        long ops = iters / cases[c].scale;
        if (ops < 10)
            ops = 10;
        pid_t echo = cases[c].op == op_pipe_pingpong ? start_echo_child() : 0;
        pid_t tcp_peer = cases[c].op == op_tcp_rtt ? start_tcp_child(tcp_echo)
                         : cases[c].op == op_tcp_bulk_1m ? start_tcp_child(tcp_discard)
                                                          : 0;
        if (cases[c].op == op_futex_pingpong)
            start_partner();
        if (!cases[c].op) {
            ns = run_pagefault(ops);
        } else {
            /* warm up: a fixed count, so --stats-json differences are exact */
            for (long i = 0; i < 1000 / cases[c].scale; i++)
                cases[c].op();
            long long t0 = now_ns();
            for (long i = 0; i < ops; i++)
                cases[c].op();
            ns = now_ns() - t0;
        }
        if (echo)
            stop_echo_child(echo);
        if (tcp_peer)
            stop_tcp_child(tcp_peer);
        if (cases[c].op == op_futex_pingpong)
            stop_partner();
        printf("%s %.1f %ld\n", cases[c].name, (double)ns / ops, ops);
        fflush(stdout);
    }
    return 0;
}
