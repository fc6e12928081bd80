/* A MAP_SHARED file mapping whose file was truncated, handed to syscalls as a buffer:
 * Linux answers EFAULT for the pages past the new end of file and the program goes on. */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int main(void)
{
    const char *dir = make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    expect_ok("ftruncate_grow", ftruncate(fd, 2 * 4096));
    char *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check("mmap", p != MAP_FAILED);
    memcpy(p, "before", 6);
    expect_ok("ftruncate_zero", ftruncate(fd, 0));

    /* The host copies into (getcwd, read, pread) and out of (write, pwrite) the buffer. */
    expect_err("getcwd_into_truncated", syscall(SYS_getcwd, p, 100), EFAULT);
    int pipefd[2];
    expect_ok("pipe", pipe(pipefd));
    expect_err("write_from_truncated", syscall(SYS_write, pipefd[1], p, 10), EFAULT);
    expect_ok("pipe_write", write(pipefd[1], "abc", 3));
    expect_err("read_into_truncated", syscall(SYS_read, pipefd[0], p, 3), EFAULT);
    int other = open("/proc/self/exe", O_RDONLY);
    expect_err("pread_into_truncated", syscall(SYS_pread64, other, p + 4096, 64, 0), EFAULT);
    char link[160];
    snprintf(link, sizeof link, "%s/l", dir);
    expect_ok("symlink", symlink("target", link));
    struct stat st;
    expect_err("fstat_into_truncated", syscall(SYS_fstat, other, (struct stat *)p), EFAULT);
    expect_err("open_path_in_truncated", syscall(SYS_open, p, O_RDONLY), EFAULT);
    expect_err("proc_readlink_into_truncated", syscall(SYS_readlink, "/proc/self/exe", p, 64), EFAULT);
    expect_err("uname_into_truncated", syscall(SYS_uname, p), EFAULT);
    expect_err("readlink_into_truncated", syscall(SYS_readlink, link, p, 64), EFAULT);

    /* Grown again, the same pages are the file's once more. */
    expect_ok("ftruncate_regrow", ftruncate(fd, 2 * 4096));
    long n = syscall(SYS_getcwd, p, 100);
    checkf("getcwd_after_regrow", n > 0 && p[0] == '/', "%c", p[0]);
    char back[8] = {0};
    expect_ok("pread_back", pread(fd, back, 1, 0));
    checkf("file_sees_write", back[0] == '/', "%c", back[0]);
    munmap(p, 2 * 4096);
    close(fd);
    close(other);
    rm_tmpdir();
    return finish();
}
