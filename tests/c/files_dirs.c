/* Directories and names: getdents64 over 50 files, mkdir/mkdirat, unlink/unlinkat
 * (AT_REMOVEDIR), rmdir, rename/renameat/renameat2 (RENAME_NOREPLACE, EXCHANGE),
 * link/linkat, symlink/symlinkat/readlink/readlinkat, getcwd/chdir/fchdir. */
#include "common.h"
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List a directory with raw getdents64 using a small buffer (forces several
 * calls), return sorted names joined by spaces; also counts d_type values. */
static int list_dir(const char *path, char *out, size_t outsz, int *n_reg, int *n_dir, int *calls)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    char buf[512];
    char *names[256];
    int n = 0;
    *n_reg = *n_dir = *calls = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
        (*calls)++;
        if (r <= 0)
            break;
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            if (n < 256)
                names[n++] = strdup(d->d_name);
            if (d->d_type == DT_REG)
                (*n_reg)++;
            if (d->d_type == DT_DIR)
                (*n_dir)++;
            off += d->d_reclen;
        }
    }
    close(fd);
    qsort(names, n, sizeof *names, cmp_str);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strncat(out, names[i], outsz - strlen(out) - 2);
        strcat(out, " ");
        free(names[i]);
    }
    return n;
}

int main(void)
{
    umask(022);
    const char *dir = make_tmpdir();
    char start_cwd[4096];
    check("getcwd_initial", getcwd(start_cwd, sizeof start_cwd) != NULL);
    check("chdir_tmp", chdir(dir) == 0);
    char cwd[4096];
    check("getcwd_is_tmpdir", getcwd(cwd, sizeof cwd) && !strcmp(cwd, dir));
    expect_err("getcwd_small_buf", getcwd(cwd, 3) ? 0 : -1, ERANGE);
    long raw = syscall(SYS_getcwd, cwd, sizeof cwd);
    checkf("getcwd_raw_returns_len", raw == (long)strlen(dir) + 1, "len+1");

    /* 50 files + 3 dirs, then list. */
    check("mkdir_d", mkdir("d", 0755) == 0);
    int ok = 1;
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "d/file%02d", (i * 37) % 50);
        int fd = open(name, O_CREAT | O_WRONLY | O_EXCL, 0644);
        ok &= fd >= 0;
        close(fd);
    }
    check("create_50_files", ok);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    check("mkdirat", mkdirat(dfd, "sub1", 0700) == 0 && mkdirat(dfd, "sub2", 0755) == 0 &&
                     mkdirat(dfd, "sub3", 0755) == 0);
    static char listing[8192];
    int nreg, ndir, calls;
    int n = list_dir("d", listing, sizeof listing, &nreg, &ndir, &calls);
    checkf("getdents64_count", n == 55, "%d", n);
    printf("getdents64_names: %s\n", listing);
    checkf("getdents64_types", nreg == 50 && ndir == 5, "reg=%d dir=%d", nreg, ndir);
    check("getdents64_multiple_calls", calls > 2);
    expect_err("getdents64_on_file", ({
        int f = open("d/file00", O_RDONLY);
        char b[256];
        long r_ = syscall(SYS_getdents64, f, b, sizeof b);
        int e = errno; close(f); errno = e; r_; }), ENOTDIR);
    expect_err("getdents64_bad_fd", syscall(SYS_getdents64, 999, listing, 512), EBADF);
    expect_err("getdents64_tiny_buf", syscall(SYS_getdents64, dfd, listing, 8), EINVAL);
    struct stat st;
    stat("d/sub1", &st);
    printf("mkdirat_mode: %04o\n", (unsigned)(st.st_mode & 07777));
    stat("d", &st);
    checkf("dir_nlink", st.st_nlink == 5, "%lu", (unsigned long)st.st_nlink);

    /* unlink / unlinkat / rmdir, and their error paths. */
    check("unlink", unlink("d/file00") == 0);
    expect_err("unlink_again", unlink("d/file00"), ENOENT);
    check("unlinkat_file", unlinkat(dfd, "file01", 0) == 0);
    check("unlinkat_removedir", unlinkat(dfd, "sub3", AT_REMOVEDIR) == 0);
    expect_err("unlinkat_dir_without_flag", unlinkat(dfd, "sub2", 0), EISDIR);
    expect_err("unlinkat_file_with_removedir", unlinkat(dfd, "file02", AT_REMOVEDIR), ENOTDIR);
    expect_err("unlink_dir", unlink("d"), EISDIR);
    expect_err("rmdir_nonempty", rmdir("d"), ENOTEMPTY);
    expect_err("rmdir_file", rmdir("d/file02"), ENOTDIR);
    expect_err("rmdir_dot", rmdir("d/sub2/."), EINVAL);
    expect_err("mkdir_existing", mkdir("d", 0755), EEXIST);
    expect_err("mkdir_missing_parent", mkdir("nope/x", 0755), ENOENT);
    expect_err("mkdir_under_file", mkdir("d/file02/x", 0755), ENOTDIR);
    check("rmdir", rmdir("d/sub2") == 0);
    n = list_dir("d", listing, sizeof listing, &nreg, &ndir, &calls);
    checkf("count_after_removals", n == 51, "%d", n);

    /* rename family. */
    int fd = open("r1", O_CREAT | O_WRONLY, 0644);
    write(fd, "one", 3);
    close(fd);
    fd = open("r2", O_CREAT | O_WRONLY, 0644);
    write(fd, "two!", 4);
    close(fd);
    check("rename", rename("r1", "r3") == 0);
    expect_err("rename_missing", rename("r1", "r4"), ENOENT);
    check("renameat_replace", renameat(AT_FDCWD, "r3", AT_FDCWD, "r2") == 0);
    stat("r2", &st);
    checkf("rename_replaced_content", st.st_size == 3, "size=%lld", (long long)st.st_size);
    check("renameat_into_dir", renameat(AT_FDCWD, "r2", dfd, "moved") == 0);
    fd = open("r5", O_CREAT | O_WRONLY, 0644);
    close(fd);
    expect_err("renameat2_noreplace", syscall(SYS_renameat2, AT_FDCWD, "r5", dfd, "moved", RENAME_NOREPLACE), EEXIST);
    check("renameat2_noreplace_free", syscall(SYS_renameat2, AT_FDCWD, "r5", AT_FDCWD, "r6", RENAME_NOREPLACE) == 0);
    check("renameat2_exchange", syscall(SYS_renameat2, AT_FDCWD, "r6", dfd, "moved", RENAME_EXCHANGE) == 0);
    stat("r6", &st);
    checkf("exchange_swapped", st.st_size == 3, "size=%lld", (long long)st.st_size);
    expect_err("rename_dir_over_file", rename("d/sub1", "r6"), ENOTDIR);
    expect_err("rename_file_over_dir", rename("r6", "d/sub1"), EISDIR);
    expect_err("rename_dir_into_itself", rename("d", "d/sub1/x"), EINVAL);
    mkdir("e", 0755);
    mkdir("e/x", 0755);
    mkdir("f", 0755);
    expect_err("rename_over_nonempty_dir", rename("f", "e"), ENOTEMPTY);
    check("rename_over_empty_dir", rename("e", "f") == 0);

    /* Hard links. */
    check("link", link("r6", "r6.hard") == 0);
    stat("r6", &st);
    checkf("link_nlink", st.st_nlink == 2, "%lu", (unsigned long)st.st_nlink);
    check("linkat", linkat(AT_FDCWD, "r6", dfd, "r6.hard2", 0) == 0);
    expect_err("link_existing", link("r6", "r6.hard"), EEXIST);
    expect_err("link_dir", link("d", "d.hard"), EPERM);

    /* Symlinks: absolute, relative, dangling, loops; readlink does not NUL-terminate. */
    check("symlink", symlink("r6", "s1") == 0);
    check("symlinkat", symlinkat("../r6", dfd, "s2") == 0);
    check("symlink_dangling", symlink("does/not/exist", "s3") == 0);
    char lb[64];
    memset(lb, 'X', sizeof lb);
    ssize_t ln = readlink("s1", lb, sizeof lb);
    checkf("readlink", ln == 2 && !memcmp(lb, "r6", 2) && lb[2] == 'X', "%zd", ln);
    ln = readlinkat(dfd, "s2", lb, sizeof lb);
    lb[ln > 0 ? ln : 0] = 0;
    checkf("readlinkat", ln == 5, "%s", lb);
    ln = readlink("s3", lb, 4);
    checkf("readlink_truncates", ln == 4 && !memcmp(lb, "does", 4), "%zd", ln);
    check("stat_through_relative_symlink", stat("d/s2", &st) == 0 && st.st_size == 3);
    expect_err("stat_dangling", stat("s3", &st), ENOENT);
    check("lstat_dangling", lstat("s3", &st) == 0 && S_ISLNK(st.st_mode));
    expect_err("readlink_not_link", readlink("r6", lb, sizeof lb), EINVAL);
    expect_err("symlink_existing", symlink("x", "s1"), EEXIST);
    symlink("loop2", "loop1");
    symlink("loop1", "loop2");
    expect_err("symlink_loop", open("loop1", O_RDONLY), ELOOP);
    expect_err("open_creat_through_dangling", open("s3", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);

    /* chdir / fchdir and relative paths. */
    check("chdir_sub", chdir("d/sub1") == 0);
    check("relative_dotdot", stat("../moved", &st) == 0);
    check("getcwd_in_sub", getcwd(cwd, sizeof cwd) && strlen(cwd) == strlen(dir) + 7);
    check("fchdir", fchdir(dfd) == 0);
    check("getcwd_after_fchdir", getcwd(cwd, sizeof cwd) && strlen(cwd) == strlen(dir) + 2);
    expect_err("chdir_to_file", chdir("file02"), ENOTDIR);
    expect_err("chdir_missing", chdir("nowhere"), ENOENT);
    int ffd = open("file02", O_RDONLY);
    expect_err("fchdir_to_file", fchdir(ffd), ENOTDIR);
    close(ffd);
    check("chdir_symlink_dir", symlink("sub1", "sub1link") == 0 && chdir("sub1link") == 0);
    check("getcwd_resolves_symlink", getcwd(cwd, sizeof cwd) && !strcmp(cwd + strlen(cwd) - 7, "/d/sub1"));
    check("chdir_root", chdir("/") == 0 && getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/"));
    check("chdir_dotdot_at_root", chdir("..") == 0 && getcwd(cwd, sizeof cwd) && !strcmp(cwd, "/"));
    close(dfd);

    /* Removing the cwd: getcwd then reports ENOENT on Linux. */
    char gone[128];
    snprintf(gone, sizeof gone, "%s/gone", dir);
    mkdir(gone, 0755);
    chdir(gone);
    rmdir(gone);
    expect_err("getcwd_deleted", getcwd(cwd, sizeof cwd) ? 0 : -1, ENOENT);
    chdir("/");

    rm_tmpdir();
    (void)start_cwd;
    return finish();
}
