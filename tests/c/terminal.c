/* Terminal ioctls on fds 0, 1 and 2. Under the test harness these are /dev/null and
 * pipes, so ENOTTY is expected (natively too); only success/errno is printed. */
#include "common.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>

static void probe(int fd)
{
    char name[64];
    struct termios t;
    snprintf(name, sizeof name, "fd%d_TCGETS", fd);
    errno = 0;
    int r = ioctl(fd, TCGETS, &t);
    checkf(name, 1, "%s", r == 0 ? "ok" : errname(errno));
    struct winsize ws;
    snprintf(name, sizeof name, "fd%d_TIOCGWINSZ", fd);
    errno = 0;
    r = ioctl(fd, TIOCGWINSZ, &ws);
    checkf(name, 1, "%s", r == 0 ? "ok" : errname(errno));
    snprintf(name, sizeof name, "fd%d_isatty", fd);
    errno = 0;
    r = isatty(fd);
    checkf(name, 1, "%d %s", r, r ? "" : errname(errno));
}

static const char *kind(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errname(errno);
    return S_ISCHR(st.st_mode) ? "chr" : S_ISFIFO(st.st_mode) ? "fifo" : S_ISREG(st.st_mode) ? "reg" : "other";
}

int main(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        printf("fd%d_kind: %s\n", fd, kind(fd));
        probe(fd);
    }
    /* Unknown ioctl on a regular file and ioctl on a bad fd. */
    int f = open("/dev/null", O_RDWR);
    check("open_dev_null", f >= 0);
    expect_err("dev_null_TCGETS", ({ struct termios t; ioctl(f, TCGETS, &t); }), ENOTTY);
    expect_err("bad_fd_TCGETS", ({ struct termios t; ioctl(999, TCGETS, &t); }), EBADF);
    /* FIONREAD on a pipe with data. */
    int p[2];
    pipe(p);
    write(p[1], "12345", 5);
    int avail = -1;
    check("pipe_FIONREAD", ioctl(p[0], FIONREAD, &avail) == 0);
    checkf("pipe_FIONREAD_value", avail == 5, "%d", avail);
    /* FIOCLEX / FIONCLEX toggle close-on-exec. */
    check("FIOCLEX", ioctl(p[0], FIOCLEX) == 0 && fcntl(p[0], F_GETFD) == FD_CLOEXEC);
    check("FIONCLEX", ioctl(p[0], FIONCLEX) == 0 && fcntl(p[0], F_GETFD) == 0);
    /* /dev/null and /dev/zero behave. */
    char buf[16];
    checkf("dev_null_read_eof", read(f, buf, sizeof buf) == 0, "0");
    checkf("dev_null_write", write(f, "abc", 3) == 3, "3");
    int z = open("/dev/zero", O_RDONLY);
    memset(buf, 1, sizeof buf);
    ssize_t zn = read(z, buf, sizeof buf);
    int allzero = 1;
    for (int i = 0; i < 16; i++)
        allzero &= buf[i] == 0;
    checkf("dev_zero_read", zn == 16 && allzero, "%zd", zn);
    return finish();
}
