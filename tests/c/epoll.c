/* epoll: create/ctl errors as Linux gives them, level- and edge-triggered readiness,
 * EPOLLONESHOT, data cookies, timeouts (epoll_wait, epoll_pwait2), EINTR from a handled
 * signal (never restarted), epoll_pwait's mask, and a wait woken by another thread. */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile int alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void alarm_in_ms(long ms)
{
    struct itimerval it = {{0, 0}, {0, ms * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static int wake_fd;
static void *writer(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    if (write(wake_fd, "t", 1) != 1)
        return (void *)1;
    return NULL;
}

int main(void)
{
    expect_err("create_size_zero", syscall(SYS_epoll_create, 0), EINVAL);
    expect_err("create1_bad_flags", epoll_create1(1), EINVAL);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    check("create1", ep >= 0);
    check("create1_cloexec", (fcntl(ep, F_GETFD) & FD_CLOEXEC) != 0);

    int p[2];
    pipe(p);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    expect_ok("ctl_add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    expect_err("ctl_add_again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
    expect_err("ctl_bad_op", epoll_ctl(ep, 99, p[0], &ev), EINVAL);
    expect_err("ctl_bad_fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev), EBADF);
    expect_err("ctl_self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    expect_err("ctl_not_epoll", epoll_ctl(p[1], EPOLL_CTL_ADD, p[0], &ev), EINVAL);
    expect_err("ctl_bad_event", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], (struct epoll_event *)8), EFAULT);
    int file = open("/etc/passwd", O_RDONLY);
    expect_err("ctl_regular_file", epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev), EPERM);
    close(file);

    struct epoll_event out[4];
    expect_err("wait_zero_max", epoll_wait(ep, out, 0, 0), EINVAL);
    expect_err("wait_bad_buffer", epoll_wait(ep, (struct epoll_event *)-4096L, 4, 0), EFAULT);
    check("wait_nothing_ready", epoll_wait(ep, out, 4, 0) == 0);
    write(p[1], "ab", 2);
    int n = epoll_wait(ep, out, 4, 1000);
    checkf("wait_readable", n == 1 && out[0].events == EPOLLIN, "%d", n);
    check("wait_cookie", n == 1 && out[0].data.u64 == 0x1122334455667788ULL);
    /* Level-triggered: still readable. */
    check("level_triggered_again", epoll_wait(ep, out, 4, 0) == 1);

    /* Edge-triggered: one event per change. */
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = p[0];
    expect_ok("ctl_mod_edge", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    check("edge_first", epoll_wait(ep, out, 4, 0) == 1 && out[0].data.fd == p[0]);
    check("edge_not_again", epoll_wait(ep, out, 4, 0) == 0);
    write(p[1], "c", 1);
    check("edge_after_new_data", epoll_wait(ep, out, 4, 0) == 1);

    /* One-shot: disarmed after one event until MOD. */
    ev.events = EPOLLIN | EPOLLONESHOT;
    expect_ok("ctl_mod_oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    check("oneshot_first", epoll_wait(ep, out, 4, 0) == 1);
    check("oneshot_disarmed", epoll_wait(ep, out, 4, 0) == 0);
    expect_ok("ctl_del", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    expect_err("ctl_del_again", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
    char buf[8];
    read(p[0], buf, sizeof buf);

    /* Timeouts. */
    double t = now();
    check("wait_timeout", epoll_wait(ep, out, 4, 30) == 0);
    check("wait_timeout_waited", now() - t >= 0.025);
    struct timespec ts = {0, 30 * 1000000L};
    t = now();
    check("pwait2_timeout", syscall(SYS_epoll_pwait2, ep, out, 4, &ts, NULL, 8) == 0);
    check("pwait2_timeout_waited", now() - t >= 0.025);

    /* A handled signal ends the wait with EINTR, even with SA_RESTART. */
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    alarm_in_ms(20);
    expect_err("wait_interrupted", epoll_wait(ep, out, 4, 5000), EINTR);
    check("handler_ran", alarms == 1);

    /* epoll_pwait's mask blocks it for the wait; the handler runs after. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    alarm_in_ms(10);
    check("pwait_masked_times_out", epoll_pwait(ep, out, 4, 60, &block) == 0);
    check("pwait_handler_after", alarms == 2);

    /* Another thread makes the pipe readable while we wait without a timeout. */
    wake_fd = p[1];
    pthread_t th;
    pthread_create(&th, NULL, writer, NULL);
    n = epoll_wait(ep, out, 4, -1);
    pthread_join(th, NULL);
    checkf("woken_by_thread", n == 1 && out[0].events == EPOLLIN, "%d", n);
    close(p[0]);
    close(p[1]);
    close(ep);
    return finish();
}
