/* eventfd: counter and semaphore semantics, EFD_NONBLOCK's EAGAIN, short buffers and the
 * all-ones value (EINVAL), EFD_CLOEXEC, readiness through poll and epoll, and a thread
 * and a child process waking a blocked reader. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>

static int efd;
static void *poster(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8)
        return (void *)1;
    return NULL;
}

int main(void)
{
    expect_err("bad_flags", eventfd(0, 0x1234), EINVAL);
    int fd = eventfd(5, EFD_NONBLOCK | EFD_CLOEXEC);
    check("create", fd >= 0);
    check("cloexec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    uint64_t v = 0;
    check("read_initial", read(fd, &v, 8) == 8 && v == 5);
    expect_err("read_empty_nonblocking", read(fd, &v, 8), EAGAIN);
    char small[4];
    expect_err("read_short_buffer", read(fd, small, 4), EINVAL);
    v = 3;
    write(fd, &v, 8);
    v = 4;
    write(fd, &v, 8);
    check("counter_adds", read(fd, &v, 8) == 8 && v == 7);
    v = UINT64_MAX;
    expect_err("write_all_ones", write(fd, &v, 8), EINVAL);
    v = UINT64_MAX - 1;
    expect_ok("write_max", write(fd, &v, 8));
    v = 1;
    expect_err("write_overflow_nonblocking", write(fd, &v, 8), EAGAIN);
    read(fd, &v, 8);

    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    check("poll_writable_only", poll(&p, 1, 0) == 1 && p.revents == POLLOUT);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 77};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    check("epoll_not_ready", epoll_wait(ep, &ev, 1, 0) == 0);
    v = 2;
    write(fd, &v, 8);
    check("epoll_ready", epoll_wait(ep, &ev, 1, 0) == 1 && ev.data.u32 == 77);
    close(ep);
    close(fd);

    /* Semaphore mode: each read takes one. */
    fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    int ones = 0;
    while (read(fd, &v, 8) == 8 && v == 1)
        ones++;
    checkf("semaphore_reads", ones == 2, "%d", ones);
    close(fd);

    /* A blocking read woken by a thread, then by a child process. */
    efd = eventfd(0, 0);
    pthread_t t;
    pthread_create(&t, NULL, poster, NULL);
    check("woken_by_thread", read(efd, &v, 8) == 8 && v == 1);
    pthread_join(t, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        poster(NULL);
        _exit(0);
    }
    check("woken_by_child", read(efd, &v, 8) == 8 && v == 1);
    waitpid(pid, NULL, 0);
    close(efd);
    return finish();
}
