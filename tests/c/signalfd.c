/* signalfd: argument errors, non-blocking and blocking reads, several records per read,
 * the siginfo fields of kill, sigqueue, a timer and a child, poll and select readiness,
 * a mask changed through a duplicate, write/pread errors, the /proc name, a signal from
 * another process waking a blocked read, a handled signal interrupting it, and a forked
 * child reading its own signals, and a signalfd without SFD_CLOEXEC that outlives execve with
 * the signal still pending. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static int fail_errno(long r)
{
    return r < 0 ? errno : 0;
}

static sigset_t set_of(int a, int b)
{
    sigset_t s;
    sigemptyset(&s);
    if (a)
        sigaddset(&s, a);
    if (b)
        sigaddset(&s, b);
    return s;
}

static void block(int sig)
{
    sigset_t s = set_of(sig, 0);
    sigprocmask(SIG_BLOCK, &s, NULL);
}

static void set_blocking(int fd, int blocking)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
}

static void argument_errors(void)
{
    sigset_t s = set_of(SIGUSR1, 0);
    printf("bad flags: %s\n", errname(fail_errno(signalfd(-1, &s, 0x1))));
    printf("bad size: %s\n", errname(fail_errno(syscall(SYS_signalfd4, -1, &s, 4, 0))));
    printf("bad mask address: %s\n", errname(fail_errno(syscall(SYS_signalfd4, -1, 8, 8, 0))));
    int p[2];
    if (pipe(p) == 0) {
        printf("not a signalfd: %s\n", errname(fail_errno(signalfd(p[0], &s, 0))));
        close(p[0]);
        close(p[1]);
    }
    printf("closed fd: %s\n", errname(fail_errno(signalfd(900, &s, 0))));
}

static void nonblocking_reads(void)
{
    block(SIGUSR1);
    block(SIGRTMIN);
    sigset_t s = set_of(SIGUSR1, 0);
    int fd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
    check("create", fd >= 0);
    check("cloexec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    struct signalfd_siginfo si[4];
    printf("empty read: %s\n", errname(fail_errno(read(fd, si, sizeof si))));
    printf("short buffer: %s\n", errname(fail_errno(read(fd, si, 100))));
    kill(getpid(), SIGUSR1);
    struct pollfd pfd = {fd, POLLIN | POLLOUT, 0};
    int n = poll(&pfd, 1, 1000);
    printf("poll: %d revents %#x\n", n, pfd.revents);
    long r = read(fd, si, sizeof si);
    printf("read: %ld signo %u code %d pid-ok %d uid-ok %d\n", r, si[0].ssi_signo, si[0].ssi_code,
           si[0].ssi_pid == (unsigned)getpid(), si[0].ssi_uid == getuid());
    printf("drained: %s\n", errname(fail_errno(read(fd, si, sizeof si))));
    n = poll(&pfd, 1, 0);
    printf("poll after: %d\n", n);

    /* A new mask through a duplicate applies to the original too. */
    int dup_fd = dup(fd);
    sigset_t both = set_of(SIGUSR1, SIGRTMIN);
    printf("remask: %d\n", signalfd(dup_fd, &both, 0) == dup_fd);
    union sigval v;
    v.sival_int = 42;
    sigqueue(getpid(), SIGRTMIN, v);
    v.sival_int = 43;
    sigqueue(getpid(), SIGRTMIN, v);
    kill(getpid(), SIGUSR1);
    r = read(fd, si, sizeof si);
    printf("three at once: %ld\n", r / (long)sizeof si[0]);
    for (int i = 0; i < r / (long)sizeof si[0]; i++)
        printf("  signo %s code %d int %d ptr-low %d\n", si[i].ssi_signo == SIGUSR1 ? "USR1" : "RTMIN",
               si[i].ssi_code, si[i].ssi_int, (int)si[i].ssi_ptr);

    printf("write: %s\n", errname(fail_errno(write(fd, si, sizeof si[0]))));
    printf("pread: %s\n", errname(fail_errno(pread(fd, si, sizeof si, 0))));

    char path[64], link[64] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    readlink(path, link, sizeof link - 1);
    printf("link: %s\n", link);

    /* select sees it too, and a signal outside the mask does not make it readable. */
    block(SIGUSR2);
    kill(getpid(), SIGUSR2);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    struct timeval tv = {0, 0};
    printf("select other signal: %d\n", select(fd + 1, &rd, NULL, NULL, &tv));
    kill(getpid(), SIGUSR1);
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    printf("select: %d isset %d\n", select(fd + 1, &rd, NULL, NULL, &tv), FD_ISSET(fd, &rd) != 0);
    read(fd, si, sizeof si);
    sigset_t usr2 = set_of(SIGUSR2, 0);
    int sig = 0;
    sigwait(&usr2, &sig);
    close(dup_fd);
    close(fd);
}

/* A blocking read woken by a signal another process sends, and by our own timer. */
static void blocking_reads(void)
{
    block(SIGUSR2);
    block(SIGALRM);
    sigset_t s = set_of(SIGUSR2, SIGALRM);
    int fd = signalfd(-1, &s, 0);
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    struct signalfd_siginfo si;
    long r = read(fd, &si, sizeof si);
    printf("from child: %ld signo-ok %d code %d pid-ok %d\n", r, si.ssi_signo == SIGUSR2, si.ssi_code,
           si.ssi_pid == (unsigned)child);
    waitpid(child, NULL, 0);

    struct itimerval it = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct pollfd pfd = {fd, POLLIN, 0};
    int n = poll(&pfd, 1, 5000);
    r = read(fd, &si, sizeof si);
    printf("timer: poll %d read %ld signo-ok %d code %d\n", n, r, si.ssi_signo == SIGALRM, si.ssi_code);
    close(fd);
}

static volatile sig_atomic_t g_handled;
static void on_usr1(int sig)
{
    (void)sig;
    g_handled = 1;
}

/* A handled signal outside the mask interrupts the wait: EINTR without SA_RESTART. */
static void interrupted_read(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1 = set_of(SIGUSR1, 0);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    sigset_t s = set_of(SIGUSR2, 0);
    int fd = signalfd(-1, &s, 0);
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    struct signalfd_siginfo si;
    long r = read(fd, &si, sizeof si);
    printf("interrupted: %s handled %d\n", errname(fail_errno(r)), g_handled);
    waitpid(child, NULL, 0);
    close(fd);
}

/* SIGCHLD through a signalfd carries the child's pid and status; a forked child reads
 * its own signals, not its parent's. */
static void children(void)
{
    block(SIGCHLD);
    block(SIGUSR2);
    sigset_t s = set_of(SIGCHLD, SIGUSR2);
    int fd = signalfd(-1, &s, 0);
    pid_t child = fork();
    if (child == 0) {
        struct signalfd_siginfo si;
        /* poll, not a non-blocking read: O_NONBLOCK would change the open file description
         * the parent is reading from. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int before = poll(&p, 1, 0) == 0;
        raise(SIGUSR2);
        long r = read(fd, &si, sizeof si);
        _exit(before && r == sizeof si && si.ssi_signo == SIGUSR2 ? 7 : 1);
    }
    struct signalfd_siginfo si;
    long r = read(fd, &si, sizeof si);
    printf("sigchld: %ld signo-ok %d code %d status %d pid-ok %d\n", r, si.ssi_signo == SIGCHLD, si.ssi_code,
           si.ssi_status, si.ssi_pid == (unsigned)child);
    set_blocking(fd, 0);
    printf("parent saw no USR2: %s\n", errname(fail_errno(read(fd, &si, sizeof si))));
    waitpid(child, NULL, 0);
    close(fd);
}

/* Run as "after-exec FD": the signalfd and the pending SIGUSR1 came through execve. */
static int after_exec(const char *fd_text)
{
    struct signalfd_siginfo si;
    long r = read(atoi(fd_text), &si, sizeof si);
    printf("after exec: %ld signo-ok %d\n", r, r == sizeof si && si.ssi_signo == SIGUSR1);
    return r == sizeof si ? 0 : 1;
}

static void survives_exec(const char *self)
{
    block(SIGUSR1);
    sigset_t s = set_of(SIGUSR1, 0);
    int fd = signalfd(-1, &s, SFD_NONBLOCK);
    pid_t child = fork();
    if (child == 0) {
        char fd_text[16];
        snprintf(fd_text, sizeof fd_text, "%d", fd);
        raise(SIGUSR1);
        execl(self, self, "after-exec", fd_text, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("exec child: exited %d status %d\n", WIFEXITED(status), WEXITSTATUS(status));
    close(fd);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
        return after_exec(argv[2]);
    argument_errors();
    nonblocking_reads();
    blocking_reads();
    interrupted_read();
    children();
    survives_exec(argv[0]);
    return g_failures ? 1 : 0;
}
