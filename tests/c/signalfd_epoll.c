/* A signalfd in an epoll set (the way event loops take signals): not ready without a
 * pending signal of its mask; ready for a signal sent to the process, from another
 * thread, from another process, by a child's exit (SIGCHLD) and by a timer; a signal
 * outside the mask does not make it ready; a new mask applies at once; reading takes
 * the readiness away. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static int sfd, ep;

static int ready(int timeout_ms)
{
    struct epoll_event ev = {0};
    int n = epoll_wait(ep, &ev, 1, timeout_ms);
    return n == 1 && ev.data.u32 == 42 && (ev.events & EPOLLIN) ? 1 : n;
}

static int take(void)
{
    struct signalfd_siginfo si;
    return read(sfd, &si, sizeof si) == sizeof si ? (int)si.ssi_signo : -errno;
}

static void *poke(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    kill(getpid(), SIGUSR1);
    return NULL;
}

int main(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGALRM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigset_t watched;
    sigemptyset(&watched);
    sigaddset(&watched, SIGUSR1);
    sigaddset(&watched, SIGCHLD);
    sigaddset(&watched, SIGALRM);
    sfd = signalfd(-1, &watched, SFD_NONBLOCK | SFD_CLOEXEC);
    check("signalfd", sfd >= 0);
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 42};
    expect_ok("epoll_ctl_add_signalfd", epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev));
    check("idle", ready(0) == 0);

    kill(getpid(), SIGUSR1);
    check("ready_after_kill_self", ready(1000) == 1);
    check("read_takes_it", take() == SIGUSR1);
    check("not_ready_after_read", ready(0) == 0);
    check("read_empty", take() == -EAGAIN);

    kill(getpid(), SIGUSR2);
    check("other_signal_not_ready", ready(0) == 0);
    sigaddset(&watched, SIGUSR2);
    check("new_mask", signalfd(sfd, &watched, 0) == sfd);
    check("ready_with_new_mask", ready(1000) == 1);
    check("takes_usr2", take() == SIGUSR2);

    pthread_t t;
    pthread_create(&t, NULL, poke, NULL);
    check("ready_from_thread", ready(5000) == 1);
    pthread_join(t, NULL);
    check("takes_thread_signal", take() == SIGUSR1);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts = {0, 30 * 1000000L};
        nanosleep(&ts, NULL);
        kill(parent, SIGUSR1);
        nanosleep(&ts, NULL);
        _exit(7);
    }
    check("ready_from_other_process", ready(5000) == 1);
    check("takes_other_process_signal", take() == SIGUSR1);
    check("ready_on_child_exit", ready(5000) == 1);
    struct signalfd_siginfo si;
    check("sigchld_record", read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGCHLD &&
                                (pid_t)si.ssi_pid == pid && si.ssi_status == 7);
    waitpid(pid, NULL, 0);

    struct itimerval it = {.it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    check("ready_on_timer", ready(5000) == 1);
    check("takes_sigalrm", take() == SIGALRM);
    check("quiet_at_end", ready(0) == 0);

    struct pollfd p = {.fd = sfd, .events = POLLIN};
    kill(getpid(), SIGUSR1);
    check("poll_sees_it_too", poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
    check("epoll_sees_it", ready(0) == 1);
    take();
    close(ep);
    close(sfd);
    return finish();
}
