/* mknod, mknodat and mkfifo: every node type Linux lets mknod make (FIFO, socket, regular
 * file with S_IFREG or type 0, character and block devices where the caller may), the
 * types it refuses (directory EPERM, symlink and unknown types EINVAL), and a FIFO made
 * here used by two processes: blocking opens that meet, data through it, EOF, and the
 * non-blocking opens' rules. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t g_alarms;
static void on_alarm(int sig)
{
    (void)sig;
    g_alarms++;
}

static const char *kind(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFREG: return "regular";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    }
    return "?";
}

/* stat `path` and print its type, permission bits and (for devices) major:minor. */
static void show(const char *name, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        checkf(name, 0, "%s", errname(errno));
        return;
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        checkf(name, 1, "%s %04o %u:%u", kind(st.st_mode), st.st_mode & 07777, major(st.st_rdev),
               minor(st.st_rdev));
    else
        checkf(name, 1, "%s %04o size %lld", kind(st.st_mode), st.st_mode & 07777, (long long)st.st_size);
}

int main(void)
{
    const char *dir = make_tmpdir();
    char p[256];
    umask(022);
    if (chdir(dir) != 0)
        return 2;

    expect_ok("mkfifo", mkfifo("fifo", 0666));
    show("mkfifo_stat", "fifo");
    expect_err("mkfifo_exists", mkfifo("fifo", 0666), EEXIST);
    expect_ok("mknod_fifo", mknod("fifo2", S_IFIFO | 0640, 0));
    show("mknod_fifo_stat", "fifo2");
    expect_ok("mknod_sock", mknod("sock", S_IFSOCK | 0600, 0));
    show("mknod_sock_stat", "sock");
    expect_ok("mknod_reg", mknod("reg", S_IFREG | 0644, 0));
    show("mknod_reg_stat", "reg");
    expect_ok("mknod_type0", mknod("type0", 0755, 0));
    show("mknod_type0_stat", "type0");
    expect_err("mknod_exists", mknod("reg", S_IFREG | 0644, 0), EEXIST);
    expect_err("mknod_dir", mknod("d", S_IFDIR | 0755, 0), EPERM);
    expect_err("mknod_symlink", mknod("l", S_IFLNK | 0777, 0), EINVAL);
    expect_err("mknod_badtype", mknod("x", 0170000 | 0644, 0), EINVAL);
    expect_err("mknod_missing_dir", mknod("nodir/f", S_IFIFO | 0644, 0), ENOENT);
    expect_err("mknod_empty", mknod("", S_IFIFO | 0644, 0), ENOENT);
    expect_err("mknod_efault", syscall(SYS_mknod, (char *)1, S_IFIFO | 0644, 0), EFAULT);
    /* Devices: allowed to root (CAP_MKNOD), EPERM otherwise; both runs are the same user. */
    errno = 0;
    long r = mknod("null", S_IFCHR | 0666, makedev(1, 3));
    checkf("mknod_chr", 1, "%s", r == 0 ? "ok" : errname(errno));
    if (r == 0)
        show("mknod_chr_stat", "null");
    errno = 0;
    r = mknod("loop", S_IFBLK | 0660, makedev(7, 200));
    checkf("mknod_blk", 1, "%s", r == 0 ? "ok" : errname(errno));
    if (r == 0)
        show("mknod_blk_stat", "loop");

    /* mknodat: relative to a directory fd, and absolute (the dirfd is then ignored). */
    expect_ok("mkdir_sub", mkdir("sub", 0755));
    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    expect_ok("mknodat_rel", mknodat(dfd, "f", S_IFIFO | 0600, 0));
    show("mknodat_rel_stat", "sub/f");
    snprintf(p, sizeof p, "%s/sub/g", dir);
    expect_ok("mknodat_abs_baddirfd", mknodat(-5, p, S_IFIFO | 0600, 0));
    show("mknodat_abs_stat", "sub/g");
    expect_err("mknodat_rel_baddirfd", mknodat(-5, "h", S_IFIFO | 0600, 0), EBADF);
    int reg = open("reg", O_RDONLY);
    expect_err("mknodat_rel_notdir", mknodat(reg, "h", S_IFIFO | 0600, 0), ENOTDIR);
    close(reg);
    close(dfd);

    /* A FIFO between two processes: each blocking open waits for the other side. */
    pid_t child = fork();
    if (child == 0) {
        int w = open("fifo", O_WRONLY);
        if (w < 0)
            _exit(10);
        const char msg[] = "through the fifo\n";
        if (write(w, msg, sizeof msg - 1) != (ssize_t)(sizeof msg - 1))
            _exit(11);
        close(w);
        _exit(0);
    }
    int rd = open("fifo", O_RDONLY);
    check("fifo_open_read", rd >= 0);
    char buf[64] = {0};
    size_t got = 0;
    for (;;) {
        ssize_t n = read(rd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    checkf("fifo_read", got == 17, "%zu bytes: %s", got, buf);
    close(rd);
    int status = -1;
    waitpid(child, &status, 0);
    checkf("fifo_writer_status", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    /* The other way round: the child reads, the parent writes. */
    child = fork();
    if (child == 0) {
        int r2 = open("fifo2", O_RDONLY);
        if (r2 < 0)
            _exit(10);
        char b[16];
        ssize_t n = read(r2, b, sizeof b);
        _exit(n == 3 && memcmp(b, "abc", 3) == 0 ? 0 : 12);
    }
    int w2 = open("fifo2", O_WRONLY);
    check("fifo2_open_write", w2 >= 0);
    expect_ok("fifo2_write", write(w2, "abc", 3));
    close(w2);
    waitpid(child, &status, 0);
    checkf("fifo2_reader_status", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    /* Non-blocking opens: a reader opens at once, a writer without a reader is ENXIO. */
    expect_err("fifo_nonblock_write_noreader", open("fifo", O_WRONLY | O_NONBLOCK), ENXIO);
    int nr = open("fifo", O_RDONLY | O_NONBLOCK);
    check("fifo_nonblock_read", nr >= 0);
    /* No writer has it open: an empty FIFO reads as EOF. */
    checkf("fifo_nonblock_read_nowriter", 1, "%zd", read(nr, buf, sizeof buf));
    int nw = open("fifo", O_WRONLY | O_NONBLOCK);
    check("fifo_nonblock_write_with_reader", nw >= 0);
    /* With a writer, empty is EAGAIN. */
    expect_err("fifo_nonblock_read_empty", read(nr, buf, sizeof buf), EAGAIN);
    expect_ok("fifo_nonblock_write", write(nw, "xy", 2));
    memset(buf, 0, sizeof buf);
    checkf("fifo_nonblock_read_data", 1, "%zd", read(nr, buf, sizeof buf));
    close(nw);
    checkf("fifo_eof", 1, "%zd", read(nr, buf, sizeof buf));
    close(nr);
    /* A blocking open with no other side waits until a signal interrupts it (EINTR, the
     * handler having no SA_RESTART). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    expect_err("fifo_open_interrupted", open("fifo", O_RDONLY), EINTR);
    checkf("fifo_open_alarms", g_alarms == 1, "%d", (int)g_alarms);
    /* O_RDWR on a FIFO never blocks on Linux. */
    int rw = open("fifo", O_RDWR);
    check("fifo_open_rdwr", rw >= 0);
    close(rw);
    struct stat st;
    int sfd = open("sock", O_RDONLY);
    checkf("open_socket_node", sfd < 0, "%s", sfd < 0 ? errname(errno) : "opened");
    check("fifo_still_fifo", stat("fifo", &st) == 0 && S_ISFIFO(st.st_mode));

    if (chdir("/") != 0)
        return 2;
    rm_tmpdir();
    return finish();
}
