/* timerfd: create/settime errors as Linux gives them, a one-shot relative timer read in a
 * blocking read, gettime of an armed and a disarmed timer, the old value settime returns,
 * an interval timer's expiration count, an absolute CLOCK_MONOTONIC time, TFD_NONBLOCK's
 * EAGAIN, and readiness through epoll. Timings are only checked from below. */
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct itimerspec ms(long value_ms, long interval_ms)
{
    struct itimerspec it = {{interval_ms / 1000, (interval_ms % 1000) * 1000000L},
                            {value_ms / 1000, (value_ms % 1000) * 1000000L}};
    return it;
}

int main(void)
{
    expect_err("create_bad_clock", timerfd_create(12345, 0), EINVAL);
    expect_err("create_bad_flags", timerfd_create(CLOCK_MONOTONIC, 0x10), EINVAL);
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    check("create", fd >= 0);
    check("cloexec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);

    struct itimerspec it = ms(30, 0), old;
    struct itimerspec bad = ms(10, 0);
    bad.it_value.tv_nsec = 1000000000L;
    expect_err("settime_bad_nsec", timerfd_settime(fd, 0, &bad, NULL), EINVAL);
    expect_err("settime_bad_pointer", timerfd_settime(fd, 0, (struct itimerspec *)8, NULL), EFAULT);
    expect_err("settime_bad_fd", timerfd_settime(999, 0, &it, NULL), EBADF);
    int p[2];
    pipe(p);
    expect_err("settime_not_timerfd", timerfd_settime(p[0], 0, &it, NULL), EINVAL);
    close(p[0]);
    close(p[1]);

    double t = now();
    expect_ok("settime_relative", timerfd_settime(fd, 0, &it, &old));
    check("old_was_disarmed", old.it_value.tv_sec == 0 && old.it_value.tv_nsec == 0);
    struct itimerspec cur;
    timerfd_gettime(fd, &cur);
    check("gettime_armed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 30000000L);
    uint64_t n = 0;
    check("read_one_expiration", read(fd, &n, 8) == 8 && n == 1);
    check("read_waited", now() - t >= 0.025);
    timerfd_gettime(fd, &cur);
    check("gettime_disarmed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);

    /* An interval timer counts every expiration until it is read. */
    it = ms(10, 10);
    timerfd_settime(fd, 0, &it, NULL);
    struct timespec wait = {0, 65 * 1000000L};
    nanosleep(&wait, NULL);
    check("interval_expirations", read(fd, &n, 8) == 8 && n >= 4);
    it = ms(0, 0);
    expect_ok("disarm", timerfd_settime(fd, 0, &it, &old));
    check("old_interval", old.it_interval.tv_nsec == 10000000L);

    /* An absolute time on the timer's clock. */
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_nsec += 20000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    it.it_interval.tv_sec = it.it_interval.tv_nsec = 0;
    it.it_value = at;
    expect_ok("settime_absolute", timerfd_settime(fd, TFD_TIMER_ABSTIME, &it, NULL));
    /* It expires at `at`, never before (however late this thread got here). */
    check("absolute_expired", read(fd, &n, 8) == 8 && n == 1 && now() >= at.tv_sec + at.tv_nsec / 1e9);
    close(fd);

    /* Non-blocking, and through epoll. */
    fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    expect_err("nonblocking_not_expired", read(fd, &n, 8), EAGAIN);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 5};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    it = ms(20, 0);
    timerfd_settime(fd, 0, &it, NULL);
    check("epoll_readable_at_expiry", epoll_wait(ep, &ev, 1, 5000) == 1 && ev.data.u32 == 5);
    check("read_after_epoll", read(fd, &n, 8) == 8 && n == 1);
    close(ep);
    close(fd);
    return finish();
}
