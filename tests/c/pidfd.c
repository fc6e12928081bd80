/* pidfds: pidfd_open of a child (PIDFD_NONBLOCK, close-on-exec always), poll saying
 * readable once the child has exited, pidfd_send_signal killing a child (waitpid sees the
 * signal) and signalling our own process (the handler runs before the call returns, with
 * SI_USER or the siginfo given), waitid(P_PIDFD), pidfd_getfd of a child's descriptor,
 * and the errors (ESRCH for a dead pid, EINVAL, EBADF, EFAULT, EPERM). */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

static int pidfd_open(pid_t pid, unsigned flags)
{
    return syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
    return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static int pidfd_getfd(int pidfd, int fd, unsigned flags)
{
    return syscall(SYS_pidfd_getfd, pidfd, fd, flags);
}

static volatile sig_atomic_t got_sig, got_code, got_value;

static void handler(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    got_sig = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
}

/* A child that waits for a byte on `fd` (or for its end), then exits with `status`. */
static pid_t child_waiting(int fd, int status)
{
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        read(fd, &c, 1);
        _exit(status);
    }
    return pid;
}

int main(void)
{
    int gate[2];
    pipe(gate);
    pid_t kid = child_waiting(gate[0], 7);
    int pfd = pidfd_open(kid, 0);
    check("open_child", pfd >= 0);
    check("open_cloexec", (fcntl(pfd, F_GETFD) & FD_CLOEXEC) != 0);
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    check("poll_alive", poll(&p, 1, 0) == 0);
    write(gate[1], "x", 1);
    check("poll_exited", poll(&p, 1, -1) == 1 && (p.revents & POLLIN));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    expect_ok("waitid_pidfd", waitid(P_PIDFD, pfd, &si, WEXITED));
    check("waitid_pidfd_status", si.si_code == CLD_EXITED && si.si_status == 7 && si.si_pid == kid);
    expect_err("signal_reaped", pidfd_send_signal(pfd, SIGTERM, NULL, 0), ESRCH);
    expect_err("waitid_pidfd_reaped", waitid(P_PIDFD, pfd, &si, WEXITED), ECHILD);
    close(pfd);
    expect_err("open_dead_pid", pidfd_open(kid, 0), ESRCH);

    expect_err("open_zero_pid", pidfd_open(0, 0), EINVAL);
    expect_err("open_negative_pid", pidfd_open(-1, 0), EINVAL);
    expect_err("open_bad_flags", pidfd_open(getpid(), 1), EINVAL);

    /* SIGKILL through a pidfd: waitpid sees the signal. */
    int gate2[2];
    pipe(gate2);
    kid = child_waiting(gate2[0], 0);
    pfd = pidfd_open(kid, PIDFD_NONBLOCK);
    check("open_nonblock", pfd >= 0 && (fcntl(pfd, F_GETFL) & O_NONBLOCK) != 0);
    expect_err("waitid_nonblock_alive", waitid(P_PIDFD, pfd, &si, WEXITED), EAGAIN);
    expect_ok("signal_zero_child", pidfd_send_signal(pfd, 0, NULL, 0));
    expect_err("signal_bad_flags", pidfd_send_signal(pfd, SIGKILL, NULL, 0x100), EINVAL);
    expect_err("signal_bad_sig", pidfd_send_signal(pfd, 1000, NULL, 0), EINVAL);
    siginfo_t *volatile bad_info = (siginfo_t *)8;
    expect_err("signal_bad_info", pidfd_send_signal(pfd, SIGKILL, bad_info, 0), EFAULT);
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR1;
    si.si_code = SI_QUEUE;
    expect_err("signal_info_mismatch", pidfd_send_signal(pfd, SIGKILL, &si, 0), EINVAL);
    si.si_signo = SIGKILL;
    si.si_code = SI_USER;
    expect_err("signal_other_positive_code", pidfd_send_signal(pfd, SIGKILL, &si, 0), EPERM);
    expect_ok("signal_kill_child", pidfd_send_signal(pfd, SIGKILL, NULL, 0));
    int status = 0;
    check("waitpid_killed", waitpid(kid, &status, 0) == kid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(pfd);
    close(gate2[1]);

    /* Our own process through a pidfd: delivered before the call returns, like kill. */
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    int self = pidfd_open(getpid(), 0);
    check("open_self", self >= 0);
    expect_ok("signal_self", pidfd_send_signal(self, SIGUSR1, NULL, 0));
    checkf("self_handler_ran", got_sig == SIGUSR1 && got_code == SI_USER, "sig=%d code=%d", (int)got_sig,
           (int)got_code);
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR2;
    si.si_code = SI_QUEUE;
    si.si_value.sival_int = 42;
    got_sig = 0;
    expect_ok("signal_self_info", pidfd_send_signal(self, SIGUSR2, &si, 0));
    checkf("self_info_delivered", got_sig == SIGUSR2 && got_code == SI_QUEUE && got_value == 42,
           "sig=%d code=%d value=%d", (int)got_sig, (int)got_code, (int)got_value);
    got_sig = 0;
    expect_ok("signal_self_zero", pidfd_send_signal(self, 0, NULL, 0));
    check("self_zero_nothing", got_sig == 0);
    expect_err("signal_self_bad_sig", pidfd_send_signal(self, 65, NULL, 0), EINVAL);
    /* Blocked: pending until unblocked, then the handler runs. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    expect_ok("signal_self_blocked", pidfd_send_signal(self, SIGUSR1, NULL, 0));
    sigset_t pending;
    sigpending(&pending);
    check("self_pending", sigismember(&pending, SIGUSR1) && got_sig == 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    check("self_delivered_on_unblock", got_sig == SIGUSR1);

    expect_err("signal_bad_fd", pidfd_send_signal(999, SIGUSR1, NULL, 0), EBADF);
    expect_err("signal_not_pidfd", pidfd_send_signal(gate[0], SIGUSR1, NULL, 0), EBADF);
    expect_err("waitid_not_pidfd", waitid(P_PIDFD, gate[0], &si, WEXITED), EBADF);
    expect_err("waitid_self_not_child", waitid(P_PIDFD, self, &si, WEXITED | WNOHANG), ECHILD);

    /* pidfd_getfd: a child's descriptor, here a file it opened after the fork. */
    int gate3[2], ready[2];
    pipe(gate3);
    pipe(ready);
    char fdnum[16];
    kid = fork();
    if (kid == 0) {
        int fd = open("/dev/null", O_RDONLY);
        snprintf(fdnum, sizeof fdnum, "%d", fd);
        write(ready[1], fdnum, sizeof fdnum);
        char c;
        read(gate3[0], &c, 1);
        _exit(0);
    }
    memset(fdnum, 0, sizeof fdnum);
    read(ready[0], fdnum, sizeof fdnum);
    pfd = pidfd_open(kid, 0);
    int theirs = pidfd_getfd(pfd, atoi(fdnum), 0);
    check("getfd", theirs >= 0);
    struct stat a, b;
    fstat(theirs, &a);
    stat("/dev/null", &b);
    check("getfd_same_file", a.st_rdev == b.st_rdev && S_ISCHR(a.st_mode));
    check("getfd_cloexec", (fcntl(theirs, F_GETFD) & FD_CLOEXEC) != 0);
    expect_err("getfd_bad_target", pidfd_getfd(pfd, 900, 0), EBADF);
    expect_err("getfd_bad_flags", pidfd_getfd(pfd, atoi(fdnum), 1), EINVAL);
    expect_err("getfd_bad_pidfd", pidfd_getfd(999, 0, 0), EBADF);
    close(theirs);
    write(gate3[1], "x", 1);
    waitpid(kid, &status, 0);
    close(pfd);
    close(self);
    return finish();
}
