/* Terminal control on a pseudo-terminal the program opens itself (so the run does not
 * depend on how the test was started): posix_openpt/grantpt/unlockpt/ptsname, a new
 * session taking the slave as its controlling terminal (TIOCSCTTY), TIOCGSID, foreground
 * process groups (tcgetpgrp/tcsetpgrp, from the background with SIGTTOU ignored),
 * TIOCNOTTY, raw mode with tcsetattr (TCSANOW/TCSADRAIN/TCSAFLUSH), the window size,
 * FIONREAD, and data through master and slave. The session lives in a child; it reports
 * back through the terminal itself and its exit status. */
#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

static int g_sync[2], g_ready[2];

static void wait_for_parent(void)
{
    char c;
    if (read(g_sync[0], &c, 1) != 1)
        printf("sync read failed\n");
}

static void session_child(const char *slave_name, int master)
{
    close(master);
    expect_ok("setsid", setsid());
    int slave = open(slave_name, O_RDWR | O_NOCTTY);
    check("open_slave", slave >= 0);
    errno = 0;
    checkf("no_ctty_yet", tcgetpgrp(slave) == -1, "%s", errname(errno));
    int p[2];
    if (pipe(p) != 0)
        return;
    expect_err("sctty_on_pipe", ioctl(p[0], TIOCSCTTY, 0), ENOTTY);
    expect_ok("sctty", ioctl(slave, TIOCSCTTY, 0));
    check("tcgetsid", tcgetsid(slave) == getsid(0));
    pid_t sid = -1;
    check("tiocgsid", ioctl(slave, TIOCGSID, &sid) == 0 && sid == getpid());
    check("foreground_is_ours", tcgetpgrp(slave) == getpgrp());
    int tty = open("/dev/tty", O_RDWR);
    check("dev_tty_opens", tty >= 0);
    close(tty);
    expect_err("tcsetpgrp_negative", tcsetpgrp(slave, -1), EINVAL);
    expect_err("tcsetpgrp_other_session", tcsetpgrp(slave, getppid()), EPERM);
    expect_err("tcsetpgrp_on_pipe", tcsetpgrp(p[0], getpgrp()), ENOTTY);
    expect_err("tcsetattr_on_pipe", tcsetattr(p[0], TCSANOW, &(struct termios){0}), ENOTTY);

    /* A job in its own process group takes the terminal from the background, as a shell's
     * child does, with SIGTTOU ignored; then the session leader takes it back the same way. */
    fflush(stdout);
    pid_t job = fork();
    if (job == 0) {
        setpgid(0, 0);
        signal(SIGTTOU, SIG_IGN);
        int ok = tcsetpgrp(slave, getpgrp()) == 0 && tcgetpgrp(slave) == getpgrp();
        /* Not the session leader: TIOCNOTTY only detaches this process. */
        int detached = ioctl(slave, TIOCNOTTY) == 0;
        errno = 0;
        int gone = tcgetpgrp(slave) == -1 && errno == ENOTTY && open("/dev/tty", O_RDWR) == -1;
        _exit(ok ? (detached && gone ? 0 : 2) : 1);
    }
    int st = -1;
    waitpid(job, &st, 0);
    checkf("job_took_terminal", WIFEXITED(st), "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    checkf("foreground_is_the_job", tcgetpgrp(slave) == job, "%d", tcgetpgrp(slave) == job);
    sigset_t ttou, old;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    expect_ok("take_back_blocked", tcsetpgrp(slave, getpgrp()));
    sigprocmask(SIG_SETMASK, &old, NULL);
    check("foreground_again", tcgetpgrp(slave) == getpgrp());
    check("still_our_tty", tcgetsid(slave) == getpid());

    /* Window size. */
    struct winsize ws = {.ws_row = 40, .ws_col = 120, .ws_xpixel = 640, .ws_ypixel = 480};
    expect_ok("set_winsize", ioctl(slave, TIOCSWINSZ, &ws));
    struct winsize got = {0};
    check("get_winsize", ioctl(slave, TIOCGWINSZ, &got) == 0);
    checkf("winsize", 1, "%dx%d %dx%d", got.ws_row, got.ws_col, got.ws_xpixel, got.ws_ypixel);

    /* termios: raw mode, a speed, each way of setting it. */
    struct termios t;
    check("tcgetattr", tcgetattr(slave, &t) == 0);
    checkf("cooked", 1, "icanon=%d echo=%d isig=%d opost=%d icrnl=%d", !!(t.c_lflag & ICANON),
           !!(t.c_lflag & ECHO), !!(t.c_lflag & ISIG), !!(t.c_oflag & OPOST), !!(t.c_iflag & ICRNL));
    checkf("cc", 1, "intr=%d eof=%d erase=%d", t.c_cc[VINTR], t.c_cc[VEOF], t.c_cc[VERASE]);
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, B9600);
    cfsetospeed(&t, B9600);
    expect_ok("tcsanow", tcsetattr(slave, TCSANOW, &t));
    expect_ok("tcsadrain", tcsetattr(slave, TCSADRAIN, &t));
    expect_ok("tcsaflush", tcsetattr(slave, TCSAFLUSH, &t));
    struct termios back;
    tcgetattr(slave, &back);
    checkf("raw", 1, "icanon=%d echo=%d isig=%d opost=%d cs8=%d vmin=%d", !!(back.c_lflag & ICANON),
           !!(back.c_lflag & ECHO), !!(back.c_lflag & ISIG), !!(back.c_oflag & OPOST),
           (back.c_cflag & CSIZE) == CS8, back.c_cc[VMIN]);
    checkf("speed", cfgetospeed(&back) == B9600 && cfgetispeed(&back) == B9600, "%d", cfgetospeed(&back) == B9600);
    expect_err("tcsetattr_bad_action", tcsetattr(slave, 42, &t), EINVAL);

    /* Data: the parent writes through the master once told we are raw. */
    printf("-- ready\n");
    fflush(stdout);
    if (write(g_ready[1], "R", 1) != 1)
        printf("ready write failed\n");
    wait_for_parent();
    /* The master's bytes reach the slave's line discipline asynchronously: with VMIN 6,
     * poll says readable only once all six are there. */
    t.c_cc[VMIN] = 6;
    tcsetattr(slave, TCSANOW, &t);
    struct pollfd pfd = {.fd = slave, .events = POLLIN};
    check("poll_six", poll(&pfd, 1, -1) == 1 && (pfd.revents & POLLIN));
    int n = -1;
    check("fionread", ioctl(slave, FIONREAD, &n) == 0);
    checkf("bytes_waiting", n == 6, "%d", n);
    char buf[16] = {0};
    ssize_t r = read(slave, buf, sizeof buf - 1);
    /* Raw: no ICRNL, so the \r arrives as is. */
    checkf("read_raw", r == 6, "%ld %d %.5s", (long)r, buf[5], buf);
    if (write(slave, "pong\n", 5) != 5)
        printf("reply write failed\n");
    fflush(stdout);
    exit(finish());
}

int main(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    check("posix_openpt", master >= 0);
    check("grantpt", grantpt(master) == 0);
    check("unlockpt", unlockpt(master) == 0);
    char name[64] = {0};
    check("ptsname_r", ptsname_r(master, name, sizeof name) == 0 && strncmp(name, "/dev/pts/", 9) == 0);
    /* The master answers for its slave, which no session has yet. */
    checkf("master_pgrp", 1, "%d", tcgetpgrp(master));
    if (pipe(g_sync) != 0 || pipe(g_ready) != 0)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        session_child(name, master);
    char c = 0;
    /* A master read before the slave is open would be EIO: wait for the child first. */
    checkf("child_ready", read(g_ready[0], &c, 1) == 1 && c == 'R', "%c", c);
    check("write_master", write(master, "ping!\r", 6) == 6);
    if (write(g_sync[1], "go", 1) != 1)
        printf("sync write failed\n");
    char buf[16] = {0};
    ssize_t r = 0;
    while (r < 5) {
        ssize_t n = read(master, buf + r, sizeof buf - 1 - r);
        if (n <= 0)
            break;
        r += n;
    }
    /* OPOST is off in raw mode: the \n comes without a \r. */
    checkf("reply", r == 5, "%ld %.4s %d", (long)r, buf, buf[4]);
    int st = -1;
    waitpid(pid, &st, 0);
    checkf("child_status", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(master);
    return finish();
}
