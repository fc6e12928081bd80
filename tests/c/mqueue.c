/* POSIX message queues: mq_open/mq_unlink/mq_timedsend/mq_timedreceive/mq_notify/
 * mq_getsetattr. Priorities, attributes, O_NONBLOCK (EAGAIN), absolute timeouts
 * (ETIMEDOUT), EMSGSIZE, a blocked receive woken by another process, poll on the queue's
 * descriptor, SIGEV_SIGNAL notification (si_code SI_MESGQ, si_value), SIGEV_THREAD
 * (glibc's helper thread), and the argument checks. Every queue made is unlinked again. */
#include "common.h"

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static char qname[64];

static void cleanup(void)
{
    if (qname[0])
        mq_unlink(qname);
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void recv_show(const char *name, mqd_t q)
{
    char buf[128] = {0};
    unsigned prio = 0;
    errno = 0;
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    if (n < 0)
        printf("%s: %s\n", name, errname(errno));
    else
        printf("%s: prio %u len %zd text %s\n", name, prio, n, buf);
}

static volatile sig_atomic_t got_sig, got_code, got_value;
static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    got_sig = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int thread_value;
static void on_message(union sigval v)
{
    pthread_mutex_lock(&lock);
    thread_value = v.sival_int;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

static void basics(mqd_t q)
{
    struct mq_attr a;
    expect_ok("getattr", mq_getattr(q, &a));
    checkf("attr_values", a.mq_maxmsg == 4 && a.mq_msgsize == 128 && a.mq_curmsgs == 0, "maxmsg %ld msgsize %ld",
           a.mq_maxmsg, a.mq_msgsize);
    expect_ok("send_low", mq_send(q, "low", 4, 1));
    expect_ok("send_high", mq_send(q, "high", 5, 9));
    expect_ok("send_mid", mq_send(q, "mid", 4, 5));
    expect_ok("send_mid2", mq_send(q, "mid2", 5, 5));
    mq_getattr(q, &a);
    checkf("curmsgs", a.mq_curmsgs == 4, "%ld", a.mq_curmsgs);
    struct timespec past = {1, 0};
    expect_err("full_times_out", mq_timedsend(q, "x", 2, 0, &past), ETIMEDOUT);
    recv_show("highest_first", q);
    recv_show("then_fifo_1", q);
    recv_show("then_fifo_2", q);
    recv_show("lowest_last", q);
    expect_err("empty_times_out", mq_timedreceive(q, (char[128]){0}, 128, NULL, &past), ETIMEDOUT);
    struct timespec bad = {0, 2000000000L};
    expect_err("invalid_timeout", mq_timedreceive(q, (char[128]){0}, 128, NULL, &bad), EINVAL);
    char small[16];
    expect_err("buffer_smaller_than_msgsize", mq_receive(q, small, sizeof small, NULL), EMSGSIZE);
    char big[200] = {0};
    expect_err("message_too_long", mq_send(q, big, sizeof big, 0), EMSGSIZE);
    expect_err("priority_too_high", mq_send(q, "x", 2, 40000), EINVAL);
    expect_err("send_bad_pointer", mq_send(q, (char *)8, 8, 0), EFAULT);
    expect_err("getattr_bad_fd", mq_getattr(-1, &a), EBADF);
    expect_err("send_not_a_queue", mq_send(1, "x", 2, 0), EBADF);

    struct mq_attr nb = {.mq_flags = O_NONBLOCK}, old;
    expect_ok("set_nonblock", mq_setattr(q, &nb, &old));
    check("old_flags_blocking", old.mq_flags == 0);
    expect_err("nonblocking_empty", mq_receive(q, big, sizeof big, NULL), EAGAIN);
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    nb.mq_flags = 0x1234;
    expect_err("setattr_bad_flags", mq_setattr(q, &nb, NULL), EINVAL);

    struct pollfd p = {.fd = q, .events = POLLIN};
    check("poll_empty", poll(&p, 1, 0) == 0);
    mq_send(q, "ready", 6, 0);
    check("poll_readable", poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
    recv_show("after_poll", q);
}

static void woken_by_child(mqd_t q)
{
    pid_t child = fork();
    if (child == 0) {
        nap_ms(50);
        _exit(mq_send(q, "child", 6, 3) == 0 ? 0 : 1);
    }
    recv_show("woken_by_child", q);
    int status;
    waitpid(child, &status, 0);
    check("child_sent", WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void notify(mqd_t q)
{
    struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    ev.sigev_value.sival_int = 4242;
    expect_ok("notify_signal", mq_notify(q, &ev));
    expect_err("notify_taken", mq_notify(q, &ev), EBUSY);
    pid_t child = fork();
    if (child == 0)
        _exit(mq_send(q, "ping", 5, 0) == 0 ? 0 : 1);
    int status;
    waitpid(child, &status, 0);
    for (int i = 0; i < 200 && !got_sig; i++)
        nap_ms(5);
    checkf("notified_by_signal", got_sig == SIGUSR1 && got_code == SI_MESGQ && got_value == 4242,
           "sig %d code %d value %d", (int)got_sig, (int)got_code, (int)got_value);
    recv_show("notified_message", q);

    got_sig = 0;
    expect_ok("notify_again", mq_notify(q, &ev));
    mq_send(q, "self", 5, 0);
    for (int i = 0; i < 200 && !got_sig; i++)
        nap_ms(5);
    checkf("notified_of_own_message", got_sig == SIGUSR1 && got_code == SI_MESGQ, "sig %d code %d", (int)got_sig,
           (int)got_code);
    recv_show("own_message", q);

    expect_ok("notify_remove_none", mq_notify(q, NULL));
    ev.sigev_notify = 77;
    expect_err("notify_bad_kind", mq_notify(q, &ev), EINVAL);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 99;
    expect_err("notify_bad_signal", mq_notify(q, &ev), EINVAL);
    expect_err("notify_bad_pointer", syscall(SYS_mq_notify, q, (void *)8), EFAULT);

    struct sigevent th = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_message};
    th.sigev_value.sival_int = 99;
    expect_ok("notify_thread", mq_notify(q, &th));
    mq_send(q, "thread", 7, 0);
    pthread_mutex_lock(&lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (!thread_value && pthread_cond_timedwait(&cond, &lock, &until) == 0)
        ;
    pthread_mutex_unlock(&lock);
    checkf("notified_in_thread", thread_value == 99, "%d", thread_value);
    recv_show("thread_message", q);
}

static void names(void)
{
    expect_err("open_missing", mq_open("/lrt-no-such-queue", O_RDONLY), ENOENT);
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 16};
    expect_err("bad_attr", mq_open("/lrt-mq-bad-attr", O_CREAT | O_EXCL | O_RDWR, 0600, &bad), EINVAL);
    expect_err("exists", mq_open(qname, O_CREAT | O_EXCL | O_RDWR, 0600, NULL), EEXIST);
    expect_err("raw_bad_name_pointer", syscall(SYS_mq_open, (char *)8, O_RDONLY, 0, NULL), EFAULT);
    expect_err("raw_bad_attr_pointer", syscall(SYS_mq_open, qname + 1, O_RDONLY, 0, (void *)8), EFAULT);
    mqd_t q2 = mq_open(qname, O_WRONLY | O_CLOEXEC);
    check("open_again_cloexec", q2 != (mqd_t)-1 && (fcntl(q2, F_GETFD) & FD_CLOEXEC));
    expect_err("receive_write_only", mq_receive(q2, (char[128]){0}, 128, NULL), EBADF);
    mq_close(q2);
    expect_ok("unlink", mq_unlink(qname));
    expect_err("unlink_again", mq_unlink(qname), ENOENT);
    qname[0] = 0;
}

int main(void)
{
    snprintf(qname, sizeof qname, "/lrt-mq-%d", getpid());
    atexit(cleanup);
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 128};
    mqd_t q = mq_open(qname, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    check("create", q != (mqd_t)-1);
    if (q == (mqd_t)-1)
        return finish();
    basics(q);
    woken_by_child(q);
    notify(q);
    mq_close(q);
    names();
    fflush(stdout);
    return finish();
}
