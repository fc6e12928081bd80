/* Error paths of file syscalls, including EFAULT for bad user pointers (raw
 * syscall() so libc does not touch the pointer first) and EBADF/ENAMETOOLONG; paths and
 * buffers at page edges, in read-only and inaccessible pages. */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define BAD ((void *)1)

/* Paths and buffers where pages end: the kernel reads a path up to its NUL and no further,
 * and a buffer is checked page by page against its protection. */
static void page_edges(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (two == MAP_FAILED) {
        check("page_edges_mmap", 0);
        return;
    }
    struct stat st;
    /* "f" ending on the page's last byte, the next page inaccessible. */
    char *edge = two + pg - 2;
    memcpy(edge, "f", 2);
    mprotect(two + pg, pg, PROT_NONE);
    check("path_ends_at_page_end", syscall(SYS_stat, edge, &st) == 0 && st.st_size == 4);
    /* No NUL before the inaccessible page: EFAULT, not a read past it. */
    memset(two + pg - 8, 'x', 8);
    expect_err("path_runs_into_prot_none", syscall(SYS_stat, two + pg - 8, &st), EFAULT);
    /* A path across the boundary of two accessible pages. */
    mprotect(two + pg, pg, PROT_READ | PROT_WRITE);
    memcpy(two + pg - 2, "di", 2);
    memcpy(two + pg, "r/x", 4);
    check("path_across_pages", syscall(SYS_stat, two + pg - 2, &st) == 0 && S_ISREG(st.st_mode));
    /* A path in a read-only page; a result into a read-only page is EFAULT, and one into a
     * page not touched yet is filled in. */
    mprotect(two, pg, PROT_READ);
    check("path_in_readonly_page", syscall(SYS_stat, two + pg - 2, &st) == 0);
    expect_err("stat_into_readonly_page", syscall(SYS_stat, "f", (struct stat *)two), EFAULT);
    char *fresh = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    check("stat_into_untouched_page",
          fresh != MAP_FAILED && syscall(SYS_stat, "f", (struct stat *)fresh) == 0 && ((struct stat *)fresh)->st_size == 4);
    /* PATH_MAX counts the NUL: 4095 bytes are a path (a missing one), 4096 are too long. */
    char *p = malloc(4097);
    for (int i = 0; i < 4096; i += 2) {
        p[i] = 'a';
        p[i + 1] = '/';
    }
    p[4094] = 'a';
    p[4095] = 0;
    expect_err("path_of_4095_bytes", syscall(SYS_stat, p, &st), ENOENT);
    p[4095] = 'a';
    p[4096] = 0;
    expect_err("path_of_4096_bytes", syscall(SYS_stat, p, &st), ENAMETOOLONG);
    free(p);
    munmap(fresh, pg);
    munmap(two, 2 * pg);
}

/* A transfer of nothing still checks the descriptor as read(2)/write(2) do; readv of nothing
 * on a directory is 0 where read is EISDIR. */
static void zero_length(void)
{
    int dir = open("dir", O_RDONLY | O_DIRECTORY), ro = open("f", O_RDONLY), p[2];
    int wo = open("f", O_WRONLY);
    pipe(p);
    expect_err("read0_closed", read(-1, NULL, 0), EBADF);
    expect_err("write0_closed", write(77, NULL, 0), EBADF);
    expect_err("read0_dir", read(dir, NULL, 0), EISDIR);
    check("readv0_dir", readv(dir, NULL, 0) == 0);
    expect_err("read0_write_only", read(wo, NULL, 0), EBADF);
    expect_err("write0_read_only", write(ro, NULL, 0), EBADF);
    expect_err("write0_dir", write(dir, NULL, 0), EBADF);
    expect_err("writev0_read_only", writev(ro, NULL, 0), EBADF);
    expect_err("pread0_pipe", pread(p[0], NULL, 0, 0), ESPIPE);
    expect_err("pwrite0_pipe", pwrite(p[1], NULL, 0, 0), ESPIPE);
    check("write0_pipe", write(p[1], NULL, 0) == 0);
    check("read0_file", read(ro, NULL, 0) == 0);
    close(dir), close(ro), close(wo), close(p[0]), close(p[1]);
}

int main(void)
{
    make_tmpdir();
    chdir(g_tmpdir);
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    write(fd, "data", 4);
    lseek(fd, 0, SEEK_SET);
    mkdir("dir", 0755);
    close(open("dir/x", O_CREAT | O_WRONLY, 0644));
    zero_length();

    /* ENOENT / EEXIST / ENOTDIR / EISDIR. */
    expect_err("open_missing", open("missing", O_RDONLY), ENOENT);
    expect_err("open_missing_dir_component", open("nodir/f", O_RDONLY), ENOENT);
    expect_err("open_excl_existing", open("f", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    expect_err("open_file_as_dir", open("f/x", O_RDONLY), ENOTDIR);
    expect_err("open_dir_rdwr", open("dir", O_RDWR), EISDIR);
    expect_err("open_empty_path", open("", O_RDONLY), ENOENT);
    expect_err("open_bad_accmode_trunc_dir", open("dir", O_RDONLY | O_TRUNC | O_CREAT, 0644), EISDIR);
    expect_err("stat_missing", ({ struct stat st; stat("missing", &st); }), ENOENT);
    expect_err("mkdir_existing", mkdir("dir", 0755), EEXIST);
    expect_err("mkdir_existing_file", mkdir("f", 0755), EEXIST);
    expect_err("rmdir_nonempty", rmdir("dir"), ENOTEMPTY);
    expect_err("rmdir_missing", rmdir("missing"), ENOENT);
    expect_err("unlink_dir", unlink("dir"), EISDIR);
    expect_err("unlink_missing", unlink("missing"), ENOENT);
    expect_err("chdir_file", chdir("f"), ENOTDIR);
    expect_err("readlink_missing", ({ char b[8]; readlink("missing", b, 8); }), ENOENT);
    expect_err("rename_missing", rename("missing", "other"), ENOENT);
    expect_err("truncate_dir", truncate("dir", 0), EISDIR);
    expect_err("truncate_missing", truncate("missing", 0), ENOENT);

    /* Name length limits: component > 255 bytes, whole path > 4095 bytes. */
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    expect_err("open_name_too_long", open(longname, O_RDONLY), ENAMETOOLONG);
    char *longpath = malloc(5000);
    for (int i = 0; i < 4998; i += 2) {
        longpath[i] = 'a';
        longpath[i + 1] = '/';
    }
    longpath[4998] = 0;
    expect_err("open_path_too_long", open(longpath, O_RDONLY), ENAMETOOLONG);

    /* EBADF on closed / never opened / wrong-mode descriptors. */
    int closed = dup(fd);
    close(closed);
    char buf[16];
    expect_err("read_closed_fd", read(closed, buf, 4), EBADF);
    expect_err("write_closed_fd", write(closed, buf, 4), EBADF);
    expect_err("read_negative_fd", read(-1, buf, 4), EBADF);
    expect_err("fstat_closed_fd", ({ struct stat st; fstat(closed, &st); }), EBADF);
    expect_err("lseek_closed_fd", lseek(closed, 0, SEEK_SET), EBADF);
    expect_err("fsync_closed_fd", fsync(closed), EBADF);
    expect_err("openat_bad_dirfd", openat(closed, "f", O_RDONLY), EBADF);
    expect_err("openat_file_as_dirfd", openat(fd, "x", O_RDONLY), ENOTDIR);
    int ro = open("f", O_RDONLY);
    expect_err("write_on_rdonly", write(ro, "x", 1), EBADF);
    expect_err("ftruncate_on_rdonly", ftruncate(ro, 0), EINVAL);
    int wo = open("f", O_WRONLY);
    expect_err("read_on_wronly", read(wo, buf, 1), EBADF);
    /* An absolute path ignores a bad dirfd. */
    char abs[128];
    snprintf(abs, sizeof abs, "%s/f", g_tmpdir);
    int af = openat(closed, abs, O_RDONLY);
    check("openat_absolute_ignores_dirfd", af >= 0);
    close(af);

    /* EFAULT: bad user pointers must be rejected, not crash. */
    expect_err("read_efault", syscall(SYS_read, fd, BAD, 4), EFAULT);
    lseek(fd, 0, SEEK_SET);
    expect_err("write_efault", syscall(SYS_write, fd, BAD, 4), EFAULT);
    expect_err("write_stdout_efault", syscall(SYS_write, 1, BAD, 4), EFAULT);
    expect_err("pread_efault", syscall(SYS_pread64, fd, BAD, 4, 0), EFAULT);
    expect_err("open_path_efault", syscall(SYS_open, BAD, O_RDONLY), EFAULT);
    expect_err("openat_path_efault", syscall(SYS_openat, AT_FDCWD, BAD, O_RDONLY), EFAULT);
    expect_err("stat_path_efault", syscall(SYS_stat, BAD, buf), EFAULT);
    expect_err("stat_buf_efault", syscall(SYS_stat, "f", BAD), EFAULT);
    expect_err("fstat_buf_efault", syscall(SYS_fstat, fd, BAD), EFAULT);
    expect_err("newfstatat_buf_efault", syscall(SYS_newfstatat, AT_FDCWD, "f", BAD, 0), EFAULT);
    expect_err("statx_buf_efault", syscall(SYS_statx, AT_FDCWD, "f", 0, 0x7ff, BAD), EFAULT);
    expect_err("mkdir_path_efault", syscall(SYS_mkdir, BAD, 0755), EFAULT);
    expect_err("unlink_path_efault", syscall(SYS_unlink, BAD), EFAULT);
    expect_err("chdir_path_efault", syscall(SYS_chdir, BAD), EFAULT);
    expect_err("getcwd_buf_efault", syscall(SYS_getcwd, BAD, 100), EFAULT);
    expect_err("readlink_buf_efault", (symlink("f", "lnk"), syscall(SYS_readlink, "lnk", BAD, 100)), EFAULT);
    expect_err("getdents64_buf_efault", ({
        int d = open("dir", O_RDONLY | O_DIRECTORY);
        long r_ = syscall(SYS_getdents64, d, BAD, 4096);
        int e = errno; close(d); errno = e; r_; }), EFAULT);
    struct iovec bad_iov[2] = {{buf, 2}, {BAD, 2}};
    lseek(fd, 0, SEEK_SET);
    /* readv with the first buffer good: the first part is transferred, then the
     * bad iovec stops it: Linux returns the partial count, not EFAULT. */
    long pr = syscall(SYS_readv, fd, bad_iov, 2);
    checkf("readv_partial_then_efault", pr == 2, "%ld", pr);
    expect_err("readv_iov_array_efault", syscall(SYS_readv, fd, BAD, 2), EFAULT);
    expect_err("uname_efault", syscall(SYS_uname, BAD), EFAULT);
    expect_err("pipe_efault", syscall(SYS_pipe, BAD), EFAULT);
    /* Kernel-space address: also EFAULT. */
    expect_err("read_kernel_addr_efault", syscall(SYS_read, fd, (void *)0xffff800000000000UL, 4), EFAULT);
    /* Zero-length read into a bad pointer is not checked: returns 0. */
    long z = syscall(SYS_read, fd, BAD, 0);
    checkf("read_zero_len_bad_ptr", z == 0, "%ld", z);

    /* EINVAL-type misuse. */
    expect_err("lseek_bad_whence", lseek(fd, 0, 99), EINVAL);
    expect_err("readv_negative_count", syscall(SYS_readv, fd, bad_iov, -1), EINVAL);
    expect_err("unlinkat_bad_flags", unlinkat(AT_FDCWD, "f", 0x1234), EINVAL);

    page_edges();

    close(fd);
    close(ro);
    close(wo);
    chdir("/");
    rm_tmpdir();
    return finish();
}
