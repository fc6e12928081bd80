/* statfs/fstatfs, utimes/futimesat, sendfile, copy_file_range, fallocate, fadvise64, the
 * xattr write side, FIONBIO, sync and syncfs. Only facts that are the same for a native run and one
 * under linuxrun are printed (file system numbers that change between calls are not). */
#include "common.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
/* The kernel sets ST_VALID (0x20) in every statfs answer; glibc does not name it. */
#define ST_VALID 0x20
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>

/* errname() plus the xattr errnos common.h does not name. */
static const char *xerr(int e)
{
    switch (e) {
    case ENODATA: return "ENODATA";
    case E2BIG: return "E2BIG";
    default: return errname(e);
    }
}

#define expect_xerr(name, call, want)                                             \
    do {                                                                          \
        errno = 0;                                                                \
        long r_ = (long)(call);                                                   \
        int e_ = errno;                                                           \
        if (r_ == -1)                                                             \
            checkf(name, e_ == (want), "%s", xerr(e_));                           \
        else                                                                      \
            checkf(name, 0, "succeeded (want %s)", xerr(want));                   \
    } while (0)

static char path_a[128], path_b[128], path_c[128];

static void write_file(const char *p, const char *data)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
        printf("write_file %s: %s FAIL\n", p, errname(errno));
    close(fd);
}

static void read_file(const char *p, char *out, size_t n)
{
    memset(out, 0, n);
    int fd = open(p, O_RDONLY);
    if (fd < 0 || read(fd, out, n - 1) < 0)
        printf("read_file: %s FAIL\n", errname(errno));
    close(fd);
}

static void test_statfs(const char *dir)
{
    struct statfs a, b;
    check("statfs", statfs(dir, &a) == 0);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    check("fstatfs", fstatfs(fd, &b) == 0);
    checkf("statfs_type", 1, "%#lx", (unsigned long)a.f_type);
    check("statfs_same_fs", a.f_type == b.f_type && a.f_bsize == b.f_bsize && a.f_blocks == b.f_blocks &&
                                memcmp(&a.f_fsid, &b.f_fsid, sizeof a.f_fsid) == 0);
    checkf("statfs_namelen", 1, "%ld", (long)a.f_namelen);
    checkf("statfs_bsize", 1, "%ld frsize %ld", (long)a.f_bsize, (long)a.f_frsize);
    checkf("statfs_flags_valid", (a.f_flags & ST_VALID) != 0, "rdonly=%d", (int)(a.f_flags & ST_RDONLY));
    check("statfs_counts_sane", a.f_bfree <= a.f_blocks && a.f_bavail <= a.f_bfree && a.f_ffree <= a.f_files);
    expect_err("statfs_missing", statfs("/nonexistent/x", &a), ENOENT);
    expect_err("fstatfs_badfd", fstatfs(999, &a), EBADF);
    expect_err("statfs_efault", syscall(SYS_statfs, dir, (void *)8), EFAULT);
    expect_err("fstatfs_efault", syscall(SYS_fstatfs, fd, (void *)8), EFAULT);
    close(fd);
}

static void test_utimes(void)
{
    write_file(path_a, "x");
    struct timeval tv[2] = {{1000000000, 250000}, {1234567890, 999999}};
    check("utimes", utimes(path_a, tv) == 0);
    struct stat st;
    stat(path_a, &st);
    checkf("utimes_values", 1, "%ld.%09ld %ld.%09ld", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timeval bad[2] = {{1, 1000000}, {1, 0}};
    expect_err("utimes_usec_too_big", utimes(path_a, bad), EINVAL);
    struct timeval neg[2] = {{1, 0}, {1, -1}};
    expect_err("utimes_usec_negative", utimes(path_a, neg), EINVAL);
    check("utimes_null_is_now", syscall(SYS_utimes, path_a, NULL) == 0 && stat(path_a, &st) == 0 &&
                                    st.st_mtim.tv_sec > 1600000000);
    expect_err("utimes_missing", utimes("/nonexistent/x", tv), ENOENT);
    expect_err("utimes_efault", syscall(SYS_utimes, path_a, (void *)8), EFAULT);

    int dfd = open(g_tmpdir, O_RDONLY | O_DIRECTORY);
    struct timeval tv2[2] = {{5, 0}, {6, 7}};
    check("futimesat", syscall(SYS_futimesat, dfd, "a", tv2) == 0 && stat(path_a, &st) == 0 &&
                           st.st_atim.tv_sec == 5 && st.st_mtim.tv_sec == 6 && st.st_mtim.tv_nsec == 7000);
    /* A NULL path sets the times of the fd itself. */
    int fd = open(path_a, O_RDONLY);
    check("futimesat_null_path", syscall(SYS_futimesat, fd, NULL, tv) == 0 && stat(path_a, &st) == 0 &&
                                     st.st_mtim.tv_sec == 1234567890);
    expect_err("futimesat_bad_dirfd", syscall(SYS_futimesat, 999, "a", tv2), EBADF);
    expect_err("futimesat_bad_usec", syscall(SYS_futimesat, dfd, "a", bad), EINVAL);
    close(fd);
    close(dfd);
}

static void test_sendfile(void)
{
    write_file(path_a, "0123456789abcdefghij");
    int in = open(path_a, O_RDONLY);
    int out = open(path_b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    off_t off = 5;
    checkf("sendfile_offset", 1, "%ld", (long)sendfile(out, in, &off, 4));
    checkf("sendfile_offset_updated", off == 9, "%ld", (long)off);
    checkf("sendfile_position_kept", 1, "%ld", (long)lseek(in, 0, SEEK_CUR));
    checkf("sendfile_no_offset", 1, "%ld", (long)sendfile(out, in, NULL, 3));
    checkf("sendfile_position_advanced", 1, "%ld", (long)lseek(in, 0, SEEK_CUR));
    checkf("sendfile_to_eof", 1, "%ld", (long)sendfile(out, in, NULL, 1000));
    checkf("sendfile_at_eof", 1, "%ld", (long)sendfile(out, in, NULL, 10));
    off = 100;
    checkf("sendfile_offset_past_eof", 1, "%ld off %ld", (long)sendfile(out, in, &off, 10), (long)off);
    char buf[64];
    read_file(path_b, buf, sizeof buf);
    checkf("sendfile_content", 1, "%s", buf);
    expect_err("sendfile_bad_in", sendfile(out, 999, NULL, 1), EBADF);
    expect_err("sendfile_bad_out", sendfile(999, in, NULL, 1), EBADF);
    expect_err("sendfile_in_writeonly", sendfile(in, out, NULL, 1), EBADF);
    expect_err("sendfile_offset_efault", sendfile(out, in, (off_t *)8, 1), EFAULT);
    off = -1;
    expect_err("sendfile_negative_offset", sendfile(out, in, &off, 1), EINVAL);

    /* Into a pipe, then read back. */
    int p[2];
    pipe(p);
    off = 0;
    checkf("sendfile_to_pipe", 1, "%ld", (long)sendfile(p[1], in, &off, 6));
    memset(buf, 0, sizeof buf);
    checkf("sendfile_pipe_data", read(p[0], buf, sizeof buf) == 6, "%s", buf);
    off = 0;
    expect_err("sendfile_pipe_offset_espipe", sendfile(out, p[0], &off, 1), ESPIPE);
    close(p[0]);
    close(p[1]);

    /* A file bigger than one host request (16 MiB) moves in one call. */
    int big = open(path_c, O_RDWR | O_CREAT | O_TRUNC, 0644);
    const long size = 20L << 20;
    check("big_ftruncate", ftruncate(big, size) == 0);
    pwrite(big, "end", 3, size - 3);
    int copy = open(path_b, O_RDWR | O_CREAT | O_TRUNC, 0644);
    off = 0;
    checkf("sendfile_big", 1, "%ld off %ld", (long)sendfile(copy, big, &off, size), (long)off);
    char tail[4] = {0};
    pread(copy, tail, 3, size - 3);
    checkf("sendfile_big_tail", 1, "%s", tail);
    close(copy);
    close(big);
    close(in);
    close(out);
}

static void test_copy_file_range(void)
{
    write_file(path_a, "abcdefghijklmnopqrstuvwxyz");
    write_file(path_b, "");
    int in = open(path_a, O_RDONLY);
    int out = open(path_b, O_WRONLY);
    loff_t oi = 2, oo = 0;
    checkf("cfr_offsets", 1, "%ld", (long)copy_file_range(in, &oi, out, &oo, 5, 0));
    checkf("cfr_offsets_updated", 1, "%ld %ld", (long)oi, (long)oo);
    checkf("cfr_positions_kept", 1, "%ld %ld", (long)lseek(in, 0, SEEK_CUR), (long)lseek(out, 0, SEEK_CUR));
    lseek(in, 20, SEEK_SET);
    lseek(out, 5, SEEK_SET);
    checkf("cfr_positions", 1, "%ld", (long)copy_file_range(in, NULL, out, NULL, 100, 0));
    checkf("cfr_positions_advanced", 1, "%ld %ld", (long)lseek(in, 0, SEEK_CUR), (long)lseek(out, 0, SEEK_CUR));
    checkf("cfr_at_eof", 1, "%ld", (long)copy_file_range(in, NULL, out, NULL, 100, 0));
    char buf[64];
    read_file(path_b, buf, sizeof buf);
    checkf("cfr_content", 1, "%s", buf);
    oi = 0;
    expect_err("cfr_flags", copy_file_range(in, &oi, out, NULL, 1, 1), EINVAL);
    expect_err("cfr_bad_fd", copy_file_range(999, NULL, out, NULL, 1, 0), EBADF);
    expect_err("cfr_out_readonly", copy_file_range(in, NULL, in, NULL, 1, 0), EBADF);
    expect_err("cfr_off_efault", copy_file_range(in, (loff_t *)8, out, NULL, 1, 0), EFAULT);
    int dfd = open(g_tmpdir, O_RDONLY | O_DIRECTORY);
    expect_err("cfr_dir", copy_file_range(dfd, NULL, out, NULL, 1, 0), EISDIR);
    int p[2];
    pipe(p);
    expect_err("cfr_pipe", copy_file_range(in, NULL, p[1], NULL, 1, 0), EINVAL);
    int rw = open(path_a, O_RDWR);
    oi = 0, oo = 3;
    expect_err("cfr_same_file_overlap", copy_file_range(rw, &oi, rw, &oo, 10, 0), EINVAL);
    close(rw);
    close(p[0]);
    close(p[1]);
    close(dfd);
    close(in);
    close(out);
}

static void test_fallocate(void)
{
    int fd = open(path_c, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct stat st;
    check("fallocate", fallocate(fd, 0, 0, 8192) == 0 && fstat(fd, &st) == 0 && st.st_size == 8192);
    check("fallocate_keep_size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 8192) == 0 && fstat(fd, &st) == 0 &&
                                     st.st_size == 8192);
    pwrite(fd, "xxxxxxxx", 8, 4096);
    check("fallocate_punch_hole",
          fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 8192) == 0 && fstat(fd, &st) == 0 &&
              st.st_size == 8192);
    char b[8];
    check("punched_reads_zero", pread(fd, b, 8, 4096) == 8 && memcmp(b, "\0\0\0\0\0\0\0\0", 8) == 0);
    expect_err("fallocate_punch_without_keep", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
    expect_err("fallocate_zero_len", fallocate(fd, 0, 0, 0), EINVAL);
    expect_err("fallocate_negative_offset", fallocate(fd, 0, -1, 10), EINVAL);
    expect_err("fallocate_bad_mode", fallocate(fd, 0x100, 0, 10), EOPNOTSUPP);
    expect_err("fallocate_bad_fd", fallocate(999, 0, 0, 10), EBADF);
    int ro = open(path_c, O_RDONLY);
    expect_err("fallocate_readonly", fallocate(ro, 0, 0, 10), EBADF);
    int p[2];
    pipe(p);
    expect_err("fallocate_pipe", fallocate(p[1], 0, 0, 10), ESPIPE);

    check("fadvise_sequential", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
    check("fadvise_dontneed", posix_fadvise(fd, 0, 4096, POSIX_FADV_DONTNEED) == 0);
    expect_err("fadvise_bad_advice", syscall(SYS_fadvise64, fd, 0L, 0L, 42), EINVAL);
    expect_err("fadvise_negative_len", syscall(SYS_fadvise64, fd, 0L, -1L, 0), EINVAL);
    expect_err("fadvise_bad_fd", syscall(SYS_fadvise64, 999, 0L, 0L, 0), EBADF);
    expect_err("fadvise_pipe", syscall(SYS_fadvise64, p[0], 0L, 0L, 0), ESPIPE);
    close(p[0]);
    close(p[1]);
    close(ro);
    close(fd);
}

static void test_xattr(void)
{
    write_file(path_a, "x");
    symlink("a", path_b);
    /* Where the file system has no user xattrs, every step says so natively and must say
     * so under linuxrun too. */
    errno = 0;
    int r = setxattr(path_a, "user.test", "value", 5, 0);
    checkf("setxattr", 1, "%s", r == 0 ? "0" : xerr(errno));
    if (r != 0)
        return;
    char v[64] = {0};
    checkf("getxattr_after_set", 1, "%ld %s", (long)getxattr(path_a, "user.test", v, sizeof v), v);
    expect_xerr("setxattr_create_exists", setxattr(path_a, "user.test", "v", 1, XATTR_CREATE), EEXIST);
    expect_xerr("setxattr_replace_missing", setxattr(path_a, "user.other", "v", 1, XATTR_REPLACE), ENODATA);
    check("setxattr_replace", setxattr(path_a, "user.test", "new", 3, XATTR_REPLACE) == 0);
    check("setxattr_create", setxattr(path_a, "user.other", "", 0, XATTR_CREATE) == 0);
    checkf("getxattr_empty_value", 1, "%ld", (long)getxattr(path_a, "user.other", v, sizeof v));
    expect_xerr("setxattr_bad_flags", setxattr(path_a, "user.test", "v", 1, 4), EINVAL);
    expect_xerr("setxattr_empty_name", setxattr(path_a, "", "v", 1, 0), ERANGE);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    memcpy(longname, "user.", 5);
    longname[299] = 0;
    expect_xerr("setxattr_long_name", setxattr(path_a, longname, "v", 1, 0), ERANGE);
    expect_xerr("setxattr_too_big", syscall(SYS_setxattr, path_a, "user.big", "v", 65537, 0), E2BIG);
    expect_xerr("setxattr_value_efault", syscall(SYS_setxattr, path_a, "user.test", (void *)8, 4, 0), EFAULT);
    expect_xerr("setxattr_missing", setxattr("/nonexistent/x", "user.test", "v", 1, 0), ENOENT);
    expect_xerr("setxattr_no_namespace", setxattr(path_a, "nonamespace", "v", 1, 0), EOPNOTSUPP);
    /* User xattrs are not allowed on symlinks themselves. */
    expect_xerr("lsetxattr_symlink", lsetxattr(path_b, "user.test", "v", 1, 0), EPERM);
    check("setxattr_through_symlink", setxattr(path_b, "user.via", "l", 1, 0) == 0);

    int fd = open(path_a, O_RDWR);
    check("fsetxattr", fsetxattr(fd, "user.fd", "12", 2, 0) == 0);
    char list[256];
    ssize_t n = listxattr(path_a, list, sizeof list);
    /* Names in a fixed order: count them and check membership. */
    int found = 0;
    for (char *p = list; n > 0 && p < list + n; p += strlen(p) + 1)
        found += !strcmp(p, "user.test") + !strcmp(p, "user.other") + !strcmp(p, "user.fd") + !strcmp(p, "user.via");
    checkf("listxattr_after_set", found == 4, "%d", found);
    check("removexattr", removexattr(path_a, "user.test") == 0);
    expect_xerr("removexattr_again", removexattr(path_a, "user.test"), ENODATA);
    expect_xerr("getxattr_removed", getxattr(path_a, "user.test", v, sizeof v), ENODATA);
    check("fremovexattr", fremovexattr(fd, "user.fd") == 0);
    expect_xerr("fremovexattr_badfd", fremovexattr(999, "user.fd"), EBADF);
    check("lremovexattr_through_path", lremovexattr(path_a, "user.other") == 0);
    /* The user namespace is for files and directories: writing it on a symlink is EPERM. */
    expect_xerr("lremovexattr_symlink", lremovexattr(path_b, "user.via"), EPERM);
    check("removexattr_via_symlink", removexattr(path_b, "user.via") == 0);
    expect_xerr("removexattr_empty_name", removexattr(path_a, ""), ERANGE);
    checkf("listxattr_after_remove", 1, "%ld", (long)listxattr(path_a, list, sizeof list));
    close(fd);
}

static void test_fionbio(void)
{
    int p[2];
    pipe(p);
    int on = 1, off = 0;
    check("FIONBIO_on", ioctl(p[0], FIONBIO, &on) == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK));
    char c;
    expect_err("FIONBIO_read_eagain", read(p[0], &c, 1), EAGAIN);
    check("FIONBIO_off", ioctl(p[0], FIONBIO, &off) == 0 && !(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    expect_err("FIONBIO_efault", ioctl(p[0], FIONBIO, (int *)8), EFAULT);
    expect_err("FIONBIO_badfd", ioctl(999, FIONBIO, &on), EBADF);
    close(p[0]);
    close(p[1]);
}

static void test_sync(void)
{
    /* sync has no result to check: it must exist and return (glibc's wrapper is void). */
    errno = 0;
    sync();
    checkf("sync", errno == 0, "%s", errname(errno));
    int fd = open(path_a, O_RDWR | O_CREAT, 0600);
    check("syncfs_file", syncfs(fd) == 0);
    int p[2];
    pipe(p);
    check("syncfs_pipe", syncfs(p[0]) == 0);
    close(p[0]);
    close(p[1]);
    close(fd);
    expect_err("syncfs_closed_fd", syncfs(fd), EBADF);
    expect_err("syncfs_negative_fd", syncfs(-1), EBADF);
}

int main(void)
{
    const char *dir = make_tmpdir();
    snprintf(path_a, sizeof path_a, "%s/a", dir);
    snprintf(path_b, sizeof path_b, "%s/b", dir);
    snprintf(path_c, sizeof path_c, "%s/c", dir);
    test_statfs(dir);
    test_utimes();
    test_sendfile();
    test_copy_file_range();
    unlink(path_b);
    test_fallocate();
    test_xattr();
    test_fionbio();
    test_sync();
    unlink(path_a);
    rm_tmpdir();
    return finish();
}
