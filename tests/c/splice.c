/* splice, tee and vmsplice: file to pipe and pipe to file, with offsets (updated, the file
 * position left alone) and without (the position moves), tee duplicating a pipe's data
 * without taking it, vmsplice into a pipe and out of one, SPLICE_F_NONBLOCK's EAGAIN on an
 * empty or full pipe, and the errors (EBADF, EINVAL when neither end is a pipe or for
 * unknown flags, ESPIPE for an offset on a pipe, EFAULT for a bad offset pointer), and a
 * vmsplice of more than the pipe holds returning what fit. */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

static void show(const char *name, int fd, size_t n)
{
    char buf[256] = {0};
    ssize_t got = read(fd, buf, n < sizeof buf - 1 ? n : sizeof buf - 1);
    checkf(name, got == (ssize_t)n, "%zd \"%s\"", got, got > 0 ? buf : "");
}

int main(void)
{
    const char *dir = make_tmpdir();
    char path[128], out[128];
    snprintf(path, sizeof path, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    int f = open(path, O_CREAT | O_RDWR, 0644);
    write(f, "0123456789abcdefghij", 20);
    lseek(f, 0, SEEK_SET);
    int o = open(out, O_CREAT | O_RDWR, 0644);
    int p[2];
    pipe(p);

    /* file -> pipe at an offset: the offset moves, the file position stays. */
    loff_t off = 5;
    ssize_t n = splice(f, &off, p[1], NULL, 4, 0);
    checkf("file_to_pipe_offset", n == 4 && off == 9, "%zd off=%lld", n, (long long)off);
    checkf("file_position_unchanged", lseek(f, 0, SEEK_CUR) == 0, "%lld", (long long)lseek(f, 0, SEEK_CUR));
    show("pipe_got", p[0], 4);

    /* file -> pipe without an offset: the file position moves. */
    n = splice(f, NULL, p[1], NULL, 3, 0);
    checkf("file_to_pipe_position", n == 3 && lseek(f, 0, SEEK_CUR) == 3, "%zd pos=%lld", n,
           (long long)lseek(f, 0, SEEK_CUR));

    /* pipe -> file at an offset. */
    off = 10;
    n = splice(p[0], NULL, o, &off, 100, 0);
    checkf("pipe_to_file_offset", n == 3 && off == 13, "%zd off=%lld", n, (long long)off);
    char back[32] = {0};
    pread(o, back, sizeof back - 1, 10);
    checkf("file_content", !strcmp(back, "012"), "\"%s\"", back);
    checkf("out_position_unchanged", lseek(o, 0, SEEK_CUR) == 0, "%lld", (long long)lseek(o, 0, SEEK_CUR));

    /* Zero length does nothing, whatever the descriptors. */
    check("zero_len", splice(999, NULL, 998, NULL, 0, 0) == 0);

    /* Errors. */
    expect_err("bad_fd_in", splice(999, NULL, p[1], NULL, 1, 0), EBADF);
    expect_err("bad_fd_out", splice(f, NULL, 999, NULL, 1, 0), EBADF);
    expect_err("no_pipe", splice(f, NULL, o, NULL, 1, 0), EINVAL);
    expect_err("bad_flags", splice(f, NULL, p[1], NULL, 1, 0x100), EINVAL);
    off = 0;
    expect_err("offset_on_pipe", splice(p[0], &off, o, NULL, 1, 0), ESPIPE);
    loff_t *volatile bad_off = (loff_t *)8;
    expect_err("bad_offset_pointer", splice(f, bad_off, p[1], NULL, 1, 0), EFAULT);
    off = -1;
    expect_err("negative_offset", splice(f, &off, p[1], NULL, 1, 0), EINVAL);
    expect_err("wrong_pipe_end", splice(f, NULL, p[0], NULL, 1, 0), EBADF);

    /* Nonblocking: an empty pipe has nothing to give. */
    expect_err("nonblock_empty", splice(p[0], NULL, o, NULL, 1, SPLICE_F_NONBLOCK), EAGAIN);

    /* tee copies without consuming. */
    int q[2];
    pipe(q);
    write(p[1], "teedata", 7);
    n = tee(p[0], q[1], 100, 0);
    checkf("tee", n == 7, "%zd", n);
    show("tee_copy", q[0], 7);
    show("tee_original_left", p[0], 7);
    expect_err("tee_nonblock_empty", tee(p[0], q[1], 1, SPLICE_F_NONBLOCK), EAGAIN);
    expect_err("tee_not_pipe", tee(f, q[1], 1, 0), EINVAL);
    expect_err("tee_bad_fd", tee(999, q[1], 1, 0), EBADF);
    expect_err("tee_same_pipe", tee(p[0], p[1], 1, 0), EINVAL);
    expect_err("tee_bad_flags", tee(p[0], q[1], 1, 0x100), EINVAL);

    /* vmsplice into the pipe, from two buffers (the second on a page of its own). */
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(page, "world");
    struct iovec iov[2] = {{"hello ", 6}, {page, 5}};
    n = vmsplice(p[1], iov, 2, 0);
    checkf("vmsplice_to_pipe", n == 11, "%zd", n);
    show("vmsplice_data", p[0], 11);

    /* vmsplice out of the pipe into user memory (the read end). */
    write(p[1], "backward", 8);
    char got[16] = {0};
    struct iovec rd[2] = {{got, 4}, {page + 100, 4}};
    n = vmsplice(p[0], rd, 2, 0);
    checkf("vmsplice_from_pipe", n == 8 && !memcmp(got, "back", 4) && !memcmp(page + 100, "ward", 4), "%zd", n);
    expect_err("vmsplice_from_empty_nonblock", vmsplice(p[0], rd, 2, SPLICE_F_NONBLOCK), EAGAIN);

    expect_err("vmsplice_bad_fd", vmsplice(999, iov, 2, 0), EBADF);
    expect_err("vmsplice_not_pipe", vmsplice(o, iov, 2, 0), EBADF);
    expect_err("vmsplice_bad_flags", vmsplice(p[1], iov, 2, 0x100), EINVAL);
    struct iovec *volatile bad_iov = (struct iovec *)8;
    expect_err("vmsplice_bad_iov", vmsplice(p[1], bad_iov, 1, 0), EFAULT);
    expect_err("vmsplice_too_many", vmsplice(p[1], iov, 5000, 0), EINVAL);
    check("vmsplice_nothing", vmsplice(p[1], iov, 0, 0) == 0);

    /* A full pipe: nonblocking vmsplice and splice say EAGAIN. */
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    char fill[4096];
    memset(fill, 'x', sizeof fill);
    while (write(p[1], fill, sizeof fill) > 0)
        ;
    fcntl(p[1], F_SETFL, 0);
    expect_err("vmsplice_full_nonblock", vmsplice(p[1], iov, 2, SPLICE_F_NONBLOCK), EAGAIN);
    expect_err("splice_full_nonblock", splice(f, NULL, p[1], NULL, 1, SPLICE_F_NONBLOCK), EAGAIN);

    /* More than the pipe holds, blocking: vmsplice fills the room there is and returns. */
    int big[2];
    pipe(big);
    fcntl(big[1], F_SETPIPE_SZ, 4096);
    char *lots = calloc(1, 100000);
    struct iovec whole = {lots, 100000};
    n = vmsplice(big[1], &whole, 1, 0);
    checkf("vmsplice_more_than_fits", n > 0 && n <= 4096, "%s", n > 0 && n <= 4096 ? "partial" : "FAIL");
    /* Once the pipe is full, a pipe opened O_NONBLOCK does not make vmsplice fail: only
     * SPLICE_F_NONBLOCK does. A reader child makes room. */
    fcntl(big[1], F_SETFL, O_NONBLOCK);
    while (write(big[1], fill, sizeof fill) > 0)
        ;
    if (fork() == 0) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        char sink[8192];
        read(big[0], sink, sizeof sink);
        _exit(0);
    }
    n = vmsplice(big[1], iov, 2, 0);
    checkf("vmsplice_waits_despite_o_nonblock", n > 0, "%s", n > 0 ? "ok" : errname(errno));
    wait(NULL);
    free(lots);

    /* The pipe's own O_NONBLOCK works as SPLICE_F_NONBLOCK for splice. */
    int r[2];
    pipe2(r, O_NONBLOCK);
    expect_err("pipe_nonblock_empty", splice(r[0], NULL, o, NULL, 1, 0), EAGAIN);

    munmap(page, 4096);
    close(f);
    close(o);
    rm_tree(dir);
    return finish();
}
