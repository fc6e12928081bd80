/* File descriptor table and permissions: lowest-free-fd rule, dup/dup2/dup3,
 * fcntl (F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD/F_DUPFD_CLOEXEC), shared offsets
 * between dups, pipes, umask, chmod/fchmod/fchmodat, access/faccessat. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static mode_t mode_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? st.st_mode & 07777 : 0;
}

int main(void)
{
    const char *dir = make_tmpdir();
    chdir(dir);

    /* umask returns the previous value and applies to creation. */
    umask(022);
    checkf("umask_previous", umask(077) == 022, "022");
    close(open("u077", O_CREAT | O_WRONLY, 0666));
    checkf("umask_077_mode", mode_of("u077") == 0600, "%04o", (unsigned)mode_of("u077"));
    umask(0);
    close(open("u000", O_CREAT | O_WRONLY, 0666));
    checkf("umask_000_mode", mode_of("u000") == 0666, "%04o", (unsigned)mode_of("u000"));
    mkdir("dir000", 0777);
    checkf("umask_000_mkdir", mode_of("dir000") == 0777, "%04o", (unsigned)mode_of("dir000"));
    umask(022);

    /* New descriptors take the lowest free number. */
    int a = open("u000", O_RDWR);
    int b = open("u000", O_RDWR);
    checkf("fd_numbers", a == 3 && b == 4, "%d %d", a, b);
    close(a);
    int c = open("u000", O_RDONLY);
    checkf("lowest_free_reused", c == 3, "%d", c);

    /* dup shares the file offset and status flags. */
    write(b, "0123456789", 10);
    int d = dup(b);
    checkf("dup_lowest", d == 5, "%d", d);
    off_t off = lseek(d, 0, SEEK_CUR);
    checkf("dup_shares_offset", off == 10, "%lld", (long long)off);
    lseek(d, 2, SEEK_SET);
    off = lseek(b, 0, SEEK_CUR);
    checkf("dup_offset_moves_both", off == 2, "%lld", (long long)off);
    checkf("dup_cloexec_clear", fcntl(d, F_GETFD) == 0, "%d", fcntl(d, F_GETFD));

    /* dup2 onto an open fd closes it silently; dup2(fd, fd) is a no-op. */
    checkf("dup2", dup2(b, c) == c, "%d", c);
    checkf("dup2_same_fd", dup2(b, b) == b, "%d", b);
    checkf("dup2_high", dup2(b, 100) == 100, "100");
    expect_err("dup2_bad_old", dup2(77, 78), EBADF);
    expect_err("dup2_newfd_too_big", dup2(b, 1 << 24), EBADF);
    /* dup3: O_CLOEXEC visible via F_GETFD; same fd is EINVAL (unlike dup2). */
    int d3 = dup3(b, 101, O_CLOEXEC);
    int d3fl = fcntl(101, F_GETFD);
    checkf("dup3_cloexec", d3 == 101 && d3fl == FD_CLOEXEC, "fd=%d fdflags=%d", d3, d3fl);
    expect_err("dup3_same_fd", dup3(b, b, 0), EINVAL);
    expect_err("dup3_bad_flags", dup3(b, 102, O_APPEND), EINVAL);

    /* fcntl descriptor flags. */
    int setfd = fcntl(b, F_SETFD, FD_CLOEXEC);
    int getfd = fcntl(b, F_GETFD);
    checkf("f_setfd", setfd == 0 && getfd == FD_CLOEXEC, "%d", getfd);
    fcntl(b, F_SETFD, 0);
    int f = fcntl(b, F_DUPFD, 50);
    checkf("f_dupfd_min", f == 50, "%d", f);
    checkf("f_dupfd_not_cloexec", fcntl(f, F_GETFD) == 0, "%d", fcntl(f, F_GETFD));
    int g = fcntl(b, F_DUPFD_CLOEXEC, 50);
    checkf("f_dupfd_cloexec_next", g == 51 && fcntl(g, F_GETFD) == FD_CLOEXEC, "%d", g);
    expect_err("f_dupfd_negative", fcntl(b, F_DUPFD, -1), EINVAL);
    /* fcntl status flags: access mode, O_APPEND settable, access mode not. */
    int fl = fcntl(b, F_GETFL);
    checkf("f_getfl_rdwr", (fl & O_ACCMODE) == O_RDWR, "accmode=%d", fl & O_ACCMODE);
    checkf("f_getfl_rdonly", (fcntl(open("u000", O_RDONLY), F_GETFL) & O_ACCMODE) == O_RDONLY, "O_RDONLY");
    check("f_setfl_append", fcntl(b, F_SETFL, fl | O_APPEND) == 0);
    checkf("f_getfl_append", (fcntl(b, F_GETFL) & O_APPEND) != 0, "%s", (fcntl(b, F_GETFL) & O_APPEND) ? "O_APPEND" : "-");
    checkf("f_setfl_append_shared_by_dup", (fcntl(d, F_GETFL) & O_APPEND) != 0, "shared");
    lseek(b, 0, SEEK_SET);
    write(b, "AB", 2);
    struct stat st;
    fstat(b, &st);
    checkf("append_after_setfl", st.st_size == 12, "%lld", (long long)st.st_size);
    fcntl(b, F_SETFL, O_WRONLY); /* access mode bits are ignored by F_SETFL */
    checkf("f_setfl_ignores_accmode", (fcntl(b, F_GETFL) & O_ACCMODE) == O_RDWR && !(fcntl(b, F_GETFL) & O_APPEND), "O_RDWR");
    expect_err("fcntl_bad_fd", fcntl(999, F_GETFD), EBADF);
    expect_err("fcntl_bad_cmd", fcntl(b, 9999), EINVAL);
    expect_err("close_bad_fd", close(999), EBADF);
    expect_err("close_twice", (close(f), close(f)), EBADF);

    /* O_CLOEXEC at open time. */
    int e = open("u000", O_RDONLY | O_CLOEXEC);
    checkf("open_o_cloexec", fcntl(e, F_GETFD) == FD_CLOEXEC, "%d", fcntl(e, F_GETFD));

    /* Pipes: data through, EOF after writer closes, EPIPE when reader is gone. */
    int p[2];
    check("pipe2_cloexec", pipe2(p, O_CLOEXEC) == 0 && fcntl(p[0], F_GETFD) == FD_CLOEXEC);
    write(p[1], "through pipe", 12);
    char buf[32] = {0};
    checkf("pipe_read", read(p[0], buf, sizeof buf) == 12, "%s", buf);
    close(p[1]);
    checkf("pipe_eof", read(p[0], buf, sizeof buf) == 0, "0");
    close(p[0]);
    pipe(p);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    expect_err("pipe_epipe", write(p[1], "x", 1), EPIPE);
    close(p[1]);
    pipe2(p, O_NONBLOCK);
    expect_err("pipe_nonblock_empty", read(p[0], buf, 1), EAGAIN);
    checkf("pipe_f_getfl_nonblock", (fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0, "O_NONBLOCK");
    expect_err("pipe_lseek", lseek(p[0], 0, SEEK_SET), ESPIPE);
    expect_err("pipe_pread", pread(p[0], buf, 1, 0), ESPIPE);
    checkf("pipe_fstat_fifo", fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "fifo");
    checkf("pipe_size", fcntl(p[0], F_GETPIPE_SZ) == 65536, "%d", fcntl(p[0], F_GETPIPE_SZ));

    /* chmod / fchmod / fchmodat. */
    close(open("perm", O_CREAT | O_WRONLY, 0644));
    check("chmod", chmod("perm", 0600) == 0);
    checkf("chmod_mode", mode_of("perm") == 0600, "%04o", (unsigned)mode_of("perm"));
    int pf = open("perm", O_RDONLY);
    check("fchmod", fchmod(pf, 04751) == 0);
    checkf("fchmod_mode", mode_of("perm") == 04751, "%04o", (unsigned)mode_of("perm"));
    check("fchmodat", fchmodat(AT_FDCWD, "perm", 0444, 0) == 0);
    checkf("fchmodat_mode", mode_of("perm") == 0444, "%04o", (unsigned)mode_of("perm"));
    expect_err("chmod_missing", chmod("missing", 0644), ENOENT);
    symlink("perm", "permlink");
    expect_err("fchmodat_nofollow", fchmodat(AT_FDCWD, "permlink", 0644, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
    close(pf);

    /* access / faccessat. Root bypasses read/write permission bits (not exec when
     * no x bit is set at all), so expectations depend on euid. */
    int root = geteuid() == 0;
    check("access_exists", access("perm", F_OK) == 0);
    check("access_read", access("perm", R_OK) == 0);
    if (root)
        check("access_write_readonly_file", access("perm", W_OK) == 0);
    else
        expect_err("access_write_readonly_file", access("perm", W_OK), EACCES);
    expect_err("access_exec_no_x_bits", access("perm", X_OK), EACCES);
    chmod("perm", 0);
    if (root)
        check("access_mode000_read", access("perm", R_OK) == 0);
    else
        expect_err("access_mode000_read", access("perm", R_OK), EACCES);
    expect_err("access_missing", access("missing", F_OK), ENOENT);
    expect_err("access_bad_mode", access("perm", 0100), EINVAL);
    check("faccessat_dir", faccessat(AT_FDCWD, ".", X_OK, 0) == 0);
    check("faccessat_eaccess", faccessat(AT_FDCWD, "u000", R_OK | W_OK, AT_EACCESS) == 0);
    check("faccessat_symlink_nofollow", faccessat(AT_FDCWD, "permlink", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
    expect_err("access_through_file", access("perm/x", F_OK), ENOTDIR);

    rm_tmpdir();
    return finish();
}
