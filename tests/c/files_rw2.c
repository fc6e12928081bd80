/* preadv2/pwritev2 (offset -1 uses and moves the file position, another offset neither;
 * RWF_HIPRI, RWF_DSYNC and RWF_SYNC; unknown flags, bad offsets, bad descriptors) and
 * sync_file_range (its flags and range checks, ESPIPE on a pipe). */
#include "common.h"
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#ifndef RWF_HIPRI
#define RWF_HIPRI 0x1
#define RWF_DSYNC 0x2
#define RWF_SYNC 0x4
#endif

static long preadv2_raw(int fd, struct iovec *iov, int n, long off, int flags)
{
    return syscall(SYS_preadv2, fd, iov, n, off, 0, flags);
}

static long pwritev2_raw(int fd, struct iovec *iov, int n, long off, int flags)
{
    return syscall(SYS_pwritev2, fd, iov, n, off, 0, flags);
}

int main(void)
{
    const char *dir = make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char a[] = "hello ", b[] = "world";
    struct iovec w[2] = {{a, 6}, {b, 5}};
    checkf("pwritev2_at_0", pwritev2_raw(fd, w, 2, 0, 0) == 11, "");
    checkf("position_unmoved", lseek(fd, 0, SEEK_CUR) == 0, "%ld", (long)lseek(fd, 0, SEEK_CUR));
    checkf("pwritev2_current", pwritev2_raw(fd, w, 1, -1, 0) == 6, "");
    checkf("position_moved", lseek(fd, 0, SEEK_CUR) == 6, "%ld", (long)lseek(fd, 0, SEEK_CUR));
    checkf("pwritev2_dsync", pwritev2_raw(fd, w + 1, 1, 11, RWF_DSYNC) == 5, "");
    checkf("pwritev2_sync", pwritev2_raw(fd, w + 1, 1, 16, RWF_SYNC) == 5, "");

    char x[8] = {0}, y[17] = {0};
    struct iovec r[2] = {{x, 5}, {y, 16}};
    long n = preadv2_raw(fd, r, 2, 0, 0);
    printf("preadv2_at_0: %ld [%s] [%s]\n", n, x, y);
    lseek(fd, 6, SEEK_SET);
    memset(x, 0, sizeof x);
    struct iovec r1 = {x, 5};
    n = preadv2_raw(fd, &r1, 1, -1, RWF_HIPRI);
    printf("preadv2_current_hipri: %ld [%s] pos %ld\n", n, x, (long)lseek(fd, 0, SEEK_CUR));
    expect_err("preadv2_unknown_flag", preadv2_raw(fd, &r1, 1, 0, 0x40000), EOPNOTSUPP);
    expect_err("pwritev2_unknown_flag", pwritev2_raw(fd, w, 1, 0, 0x40000), EOPNOTSUPP);
    expect_err("preadv2_bad_offset", preadv2_raw(fd, &r1, 1, -2, 0), EINVAL);
    expect_err("preadv2_bad_fd", preadv2_raw(-1, &r1, 1, 0, 0), EBADF);
    expect_err("pwritev2_bad_fd", pwritev2_raw(99, w, 1, -1, 0), EBADF);
    expect_err("preadv2_bad_iovec", preadv2_raw(fd, (struct iovec *)8, 1, 0, 0), EFAULT);
    expect_err("preadv2_too_many", preadv2_raw(fd, &r1, 1025, 0, 0), EINVAL);

    /* sync_file_range. */
    unsigned all = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    expect_ok("sfr_whole", sync_file_range(fd, 0, 0, all));
    expect_ok("sfr_write", sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WRITE));
    expect_ok("sfr_none", sync_file_range(fd, 100, 10, 0));
    expect_err("sfr_bad_flags", sync_file_range(fd, 0, 0, 8), EINVAL);
    expect_err("sfr_negative_offset", sync_file_range(fd, -1, 0, 0), EINVAL);
    expect_err("sfr_negative_length", sync_file_range(fd, 0, -1, 0), EINVAL);
    expect_err("sfr_bad_fd", sync_file_range(-1, 0, 0, 0), EBADF);
    int p[2];
    pipe(p);
    expect_err("sfr_pipe", sync_file_range(p[0], 0, 0, 0), ESPIPE);
    /* A pipe cannot be synced, and a write to it with RWF_DSYNC is just a write. */
    checkf("pwritev2_dsync_pipe", pwritev2_raw(p[1], w, 1, -1, RWF_DSYNC) == 6, "");
    close(p[0]);
    close(p[1]);
    close(fd);
    rm_tmpdir();
    return finish();
}
