/* File data I/O and metadata: open/openat/creat/read/write/pread64/pwrite64/
 * readv/writev/lseek (incl. holes), O_APPEND/O_TRUNC, fstat/stat/lstat/fstatat/
 * statx, truncate/ftruncate, fsync/fdatasync, utimensat. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static char g_buf[8192];

static const char *type_name(mode_t m)
{
    return S_ISREG(m) ? "reg" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "lnk" : S_ISFIFO(m) ? "fifo" : "other";
}

/* Print deterministic stat fields (type, permission bits, size, nlink, owner). */
static void show_stat(const char *name, const struct stat *st)
{
    printf("%s: type=%s mode=%04o size=%lld nlink=%lu own=%s\n", name, type_name(st->st_mode),
           (unsigned)(st->st_mode & 07777), (long long)st->st_size, (unsigned long)st->st_nlink,
           st->st_uid == getuid() && st->st_gid == getgid() ? "self" : "other");
}

int main(void)
{
    umask(022);
    const char *dir = make_tmpdir();
    check("chdir_tmp", chdir(dir) == 0);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    check("open_dir", dfd >= 0);

    /* creat + write + close; open + read back. */
    int fd = creat("a.txt", 0644);
    check("creat", fd >= 0);
    checkf("write_hello", write(fd, "hello world\n", 12) == 12, "12");
    check("close", close(fd) == 0);
    fd = open("a.txt", O_RDONLY);
    check("open_rdonly", fd >= 0);
    ssize_t n = read(fd, g_buf, sizeof g_buf);
    checkf("read_all", n == 12 && !memcmp(g_buf, "hello world\n", 12), "%zd", n);
    checkf("read_eof", read(fd, g_buf, 10) == 0, "0");
    expect_err("write_on_rdonly", write(fd, "x", 1), EBADF);
    close(fd);

    /* openat relative to a dir fd; O_CREAT mode honours umask. */
    umask(027);
    fd = openat(dfd, "b.txt", O_CREAT | O_RDWR | O_TRUNC, 0666);
    check("openat_create", fd >= 0);
    struct stat st;
    fstat(fd, &st);
    show_stat("fstat_new_umask027", &st);
    umask(022);

    /* pwrite/pread don't move the offset. */
    checkf("pwrite_at_100", pwrite(fd, "PQRS", 4, 100) == 4, "4");
    off_t cur = lseek(fd, 0, SEEK_CUR);
    checkf("offset_after_pwrite", cur == 0, "%lld", (long long)cur);
    char pb[8] = {0};
    checkf("pread_at_101", pread(fd, pb, 3, 101) == 3 && !memcmp(pb, "QRS", 3), "%s", pb);
    checkf("pread_gap_is_zero", pread(fd, pb, 4, 50) == 4 && !memcmp(pb, "\0\0\0\0", 4), "zeros");
    checkf("pread_past_eof", pread(fd, pb, 4, 1000) == 0, "0");
    fstat(fd, &st);
    checkf("size_after_pwrite", st.st_size == 104, "%lld", (long long)st.st_size);

    /* writev/readv across several buffers. */
    lseek(fd, 0, SEEK_SET);
    struct iovec wv[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
    checkf("writev", writev(fd, wv, 3) == 8, "8");
    lseek(fd, 0, SEEK_SET);
    char r1[2], r2[4], r3[10] = {0};
    struct iovec rv[3] = {{r1, 2}, {r2, 4}, {r3, 10}};
    ssize_t rn = readv(fd, rv, 3);
    checkf("readv", rn == 16 && !memcmp(r1, "ab", 2) && !memcmp(r2, "cdef", 4) && !memcmp(r3, "gh", 2), "%zd", rn);
    char pv1[3] = {0}, pv2[3] = {0};
    struct iovec prv[2] = {{pv1, 2}, {pv2, 2}};
    checkf("preadv", preadv(fd, prv, 2, 100) == 4 && !memcmp(pv1, "PQ", 2) && !memcmp(pv2, "RS", 2), "%s%s", pv1, pv2);
    struct iovec pwv[1] = {{"zz", 2}};
    checkf("pwritev", pwritev(fd, pwv, 1, 8) == 2, "2");

    /* lseek variants; seeking beyond EOF then writing leaves a hole of zeros. */
    off_t off = lseek(fd, 10, SEEK_SET);
    checkf("lseek_set", off == 10, "%lld", (long long)off);
    off = lseek(fd, 5, SEEK_CUR);
    checkf("lseek_cur", off == 15, "%lld", (long long)off);
    off = lseek(fd, -4, SEEK_END);
    checkf("lseek_end", off == 100, "%lld", (long long)off);
    off = lseek(fd, 1 << 20, SEEK_END);
    checkf("lseek_beyond_end", off == 104 + (1 << 20), "%lld", (long long)off);
    checkf("write_after_hole", write(fd, "END", 3) == 3, "3");
    fstat(fd, &st);
    checkf("size_with_hole", st.st_size == 104 + (1 << 20) + 3, "%lld", (long long)st.st_size);
    checkf("hole_reads_zero", pread(fd, pb, 4, 500000) == 4 && !memcmp(pb, "\0\0\0\0", 4), "zeros");
    printf("hole_sparse: %s\n", st.st_blocks * 512 < st.st_size ? "yes" : "no");
    expect_err("lseek_negative", lseek(fd, -1, SEEK_SET), EINVAL);
    expect_err("lseek_bad_whence", lseek(fd, 0, 77), EINVAL);
    off_t data = lseek(fd, 0, SEEK_DATA);
    checkf("lseek_seek_data", data == 0, "%lld", (long long)data);

    /* ftruncate shrink and grow; truncate by path. */
    check("ftruncate_shrink", ftruncate(fd, 5) == 0);
    fstat(fd, &st);
    checkf("size_after_ftruncate", st.st_size == 5, "%lld", (long long)st.st_size);
    check("ftruncate_grow", ftruncate(fd, 9000) == 0);
    checkf("grown_tail_zero", pread(fd, pb, 4, 8000) == 4 && !memcmp(pb, "\0\0\0\0", 4), "zeros");
    check("truncate_path", truncate("b.txt", 3) == 0);
    stat("b.txt", &st);
    checkf("size_after_truncate", st.st_size == 3, "%lld", (long long)st.st_size);
    expect_err("ftruncate_negative", ftruncate(fd, -1), EINVAL);
    check("fsync", fsync(fd) == 0);
    check("fdatasync", fdatasync(fd) == 0);
    close(fd);

    /* O_APPEND: writes go to the end whatever the offset. */
    fd = open("a.txt", O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    write(fd, "more\n", 5);
    close(fd);
    stat("a.txt", &st);
    checkf("append_size", st.st_size == 17, "%lld", (long long)st.st_size);
    /* O_TRUNC empties. */
    fd = open("a.txt", O_WRONLY | O_TRUNC);
    fstat(fd, &st);
    checkf("o_trunc_size", st.st_size == 0, "%lld", (long long)st.st_size);
    write(fd, "0123456789", 10);
    close(fd);

    /* stat / lstat / fstatat / newfstatat on a symlink. */
    check("symlink", symlink("a.txt", "link") == 0);
    check("stat", stat("a.txt", &st) == 0);
    show_stat("stat_a", &st);
    check("stat_through_link", stat("link", &st) == 0);
    show_stat("stat_link", &st);
    check("lstat_link", lstat("link", &st) == 0);
    checkf("lstat_link_type", S_ISLNK(st.st_mode) && st.st_size == 5, "%s size=%lld", type_name(st.st_mode), (long long)st.st_size);
    check("fstatat_nofollow", fstatat(dfd, "link", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode));
    check("fstatat_follow", fstatat(dfd, "link", &st, 0) == 0 && S_ISREG(st.st_mode));
    check("newfstatat_raw", syscall(SYS_newfstatat, AT_FDCWD, "a.txt", &st, 0) == 0 && st.st_size == 10);
    check("fstatat_empty_path", fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
    check("stat_dir", stat(".", &st) == 0);
    printf("stat_dot: type=%s mode=%04o\n", type_name(st.st_mode), (unsigned)(st.st_mode & 07777));
    struct stat st1, st2;
    stat("a.txt", &st1);
    stat("link", &st2);
    check("same_inode_through_link", st1.st_ino == st2.st_ino && st1.st_dev == st2.st_dev);

    /* statx (raw syscall). */
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    check("statx", syscall(SYS_statx, AT_FDCWD, "a.txt", 0, STATX_BASIC_STATS, &stx) == 0);
    checkf("statx_fields", (stx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS && stx.stx_size == 10 &&
                           S_ISREG(stx.stx_mode) && stx.stx_ino == st1.st_ino,
           "size=%llu mode=%04o", (unsigned long long)stx.stx_size, (unsigned)(stx.stx_mode & 07777));
    check("statx_mtime_matches_stat", (long long)stx.stx_mtime.tv_sec == (long long)st1.st_mtim.tv_sec &&
                                      stx.stx_mtime.tv_nsec == (unsigned)st1.st_mtim.tv_nsec);
    check("statx_nofollow", syscall(SYS_statx, AT_FDCWD, "link", AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) == 0 &&
                            S_ISLNK(stx.stx_mode));
    expect_err("statx_missing", syscall(SYS_statx, AT_FDCWD, "nope", 0, STATX_BASIC_STATS, &stx), ENOENT);
    expect_err("statx_bad_flags", syscall(SYS_statx, AT_FDCWD, "a.txt", 0x80000000, STATX_BASIC_STATS, &stx), EINVAL);

    /* utimensat sets exact timestamps; stat reads them back. */
    struct timespec times[2] = {{1000000000, 123456789}, {1234567890, 987654321}};
    check("utimensat", utimensat(AT_FDCWD, "a.txt", times, 0) == 0);
    stat("a.txt", &st);
    checkf("mtime_set", st.st_mtim.tv_sec == 1234567890 && st.st_mtim.tv_nsec == 987654321, "%lld.%09ld",
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    checkf("atime_set", st.st_atim.tv_sec == 1000000000, "%lld", (long long)st.st_atim.tv_sec);

    /* read/write of zero length, reading a directory. */
    fd = open("a.txt", O_RDWR);
    checkf("read_zero_len", read(fd, g_buf, 0) == 0, "0");
    checkf("write_zero_len", write(fd, g_buf, 0) == 0, "0");
    close(fd);
    expect_err("read_directory", read(dfd, g_buf, 10), EISDIR);
    expect_err("open_dir_for_write", open(".", O_WRONLY), EISDIR);
    expect_err("o_directory_on_file", open("a.txt", O_RDONLY | O_DIRECTORY), ENOTDIR);
    expect_err("o_nofollow_on_link", open("link", O_RDONLY | O_NOFOLLOW), ELOOP);
    /* O_PATH descriptors can fstat but not read. */
    int pfd = open("a.txt", O_PATH);
    check("o_path_open", pfd >= 0);
    check("o_path_fstat", fstat(pfd, &st) == 0 && st.st_size == 10);
    expect_err("o_path_read", read(pfd, g_buf, 1), EBADF);
    close(pfd);
    close(dfd);
    check("chdir_root", chdir("/") == 0);
    rm_tmpdir();
    return finish();
}
