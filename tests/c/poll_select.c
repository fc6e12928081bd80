/* poll, ppoll, select and pselect on pipes: readiness, timeouts, bad fds, and a SIGALRM
 * interrupting a wait without a timeout. */
#include "common.h"
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>

static volatile int g_alarms;
static void on_alarm(int sig) { (void)sig; g_alarms++; }

int main(void)
{
    int p[2];
    check("pipe", pipe(p) == 0);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    checkf("poll_empty_times_out", poll(&pf, 1, 50) == 0, "revents %d", pf.revents);
    struct pollfd wf = {.fd = p[1], .events = POLLOUT};
    check("poll_writable", poll(&wf, 1, 0) == 1 && (wf.revents & POLLOUT));
    check("write", write(p[1], "x", 1) == 1);
    check("poll_readable", poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN));
    struct timespec zero = {0, 0};
    check("ppoll_readable", ppoll(&pf, 1, &zero, NULL) == 1);

    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {1, 0};
    check("select_readable", select(p[0] + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(p[0], &r));
    char c;
    check("read", read(p[0], &c, 1) == 1);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    check("select_times_out", select(p[0] + 1, &r, NULL, NULL, &tv) == 0 && !FD_ISSET(p[0], &r));
    check("select_timeout_consumed", tv.tv_sec == 0 && tv.tv_usec == 0);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    check("pselect_times_out", pselect(p[0] + 1, &r, NULL, NULL, &zero, NULL) == 0);

    /* The write end closed: the read end reports hangup (and select says readable). */
    close(p[1]);
    pf.revents = 0;
    check("poll_hup", poll(&pf, 1, 1000) == 1 && (pf.revents & POLLHUP));

    /* A closed fd: POLLNVAL from poll, EBADF from select. */
    int closed = p[1];
    struct pollfd nf = {.fd = closed, .events = POLLIN};
    check("poll_nval", poll(&nf, 1, 0) == 1 && (nf.revents & POLLNVAL));
    FD_ZERO(&r);
    FD_SET(closed, &r);
    tv.tv_sec = 0;
    tv.tv_usec = 0;
    expect_err("select_ebadf", select(closed + 1, &r, NULL, NULL, &tv), EBADF);
    expect_err("select_negative_nfds", select(-1, NULL, NULL, NULL, &tv), EINVAL);

    /* A wait without a timeout ends when SIGALRM's handler runs. */
    int q[2];
    check("pipe2", pipe(q) == 0);
    signal(SIGALRM, on_alarm);
    struct itimerval it = {.it_value = {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct pollfd qf = {.fd = q[0], .events = POLLIN};
    expect_err("poll_interrupted", poll(&qf, 1, -1), EINTR);
    check("alarm_ran", g_alarms == 1);
    return finish();
}
