/* /dev/null and /dev/zero (linuxrun serves their reads and writes in the guest): contents,
 * access modes, partial and bad buffers, pread/pwrite, and descriptor numbers that stop
 * naming the device (close, dup2 over it, close-on-exec is covered by exec tests) while
 * the program goes on using the number. */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* A regular file with known content, opened read-only at the lowest free number. */
static int open_text_file(void)
{
    int fd = open("text", O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0 || write(fd, "hello file", 10) != 10)
        return -1;
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void zero_contents(void)
{
    unsigned char buf[300];
    int z = open("/dev/zero", O_RDONLY);
    memset(buf, 0xaa, sizeof buf);
    long n = read(z, buf, 200);
    checkf("zero_read_200", n == 200 && all_bytes(buf, 200, 0) && all_bytes(buf + 200, 100, 0xaa), "%ld", n);
    checkf("zero_read_0", read(z, buf, 0) == 0, "0");
    memset(buf, 0xbb, sizeof buf);
    n = pread(z, buf, 50, 12345);
    checkf("zero_pread", n == 50 && all_bytes(buf, 50, 0), "%ld", n);
    expect_err("zero_pread_negative_offset", pread(z, buf, 1, -1), EINVAL);
    checkf("zero_lseek", lseek(z, 100, SEEK_SET) == 0, "0");
    expect_err("zero_write_on_rdonly", write(z, buf, 1), EBADF);
    close(z);

    z = open("/dev/zero", O_RDWR);
    checkf("zero_write_rdwr", write(z, "abc", 3) == 3, "3");
    checkf("zero_pwrite_rdwr", pwrite(z, "abc", 2, 7) == 2, "2");
    close(z);
}

static void zero_buffers(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    int z = open("/dev/zero", O_RDONLY);
    unsigned char *m = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 0xcc, 3 * pg);
    mprotect(m + pg, pg, PROT_NONE);
    mprotect(m + 2 * pg, pg, PROT_READ);
    /* stops at the first page it cannot write: the bytes before it */
    long n = read(z, m + 100, 2 * pg);
    checkf("zero_read_partial", n == pg - 100 && all_bytes(m + 100, pg - 100, 0) && m[99] == 0xcc, "page-100: %d",
           n == pg - 100);
    expect_err("zero_read_none_page", read(z, m + pg, 10), EFAULT);
    expect_err("zero_read_readonly_page", read(z, m + 2 * pg, 10), EFAULT);
    expect_err("zero_read_kernel_address", read(z, (void *)-4096L, 10), EFAULT);
    munmap(m, 3 * pg);
    close(z);
}

static void null_device(void)
{
    char buf[16] = "xyz";
    int w = open("/dev/null", O_WRONLY);
    checkf("null_write", write(w, "12345", 5) == 5, "5");
    checkf("null_pwrite", pwrite(w, "12345", 4, 99) == 4, "4");
    expect_err("null_read_on_wronly", read(w, buf, 1), EBADF);
    /* the buffer is never looked at: only its range must be user space */
    checkf("null_write_unmapped_buffer", write(w, (void *)4096, 8) == 8, "8");
    expect_err("null_write_kernel_address", write(w, (void *)-4096L, 8), EFAULT);
    close(w);

    int r = open("/dev/null", O_RDONLY);
    checkf("null_read_eof", read(r, buf, sizeof buf) == 0 && buf[0] == 'x', "0");
    checkf("null_pread_eof", pread(r, buf, sizeof buf, 5) == 0, "0");
    expect_err("null_write_on_rdonly", write(r, "a", 1), EBADF);
    close(r);

    int p = open("/dev/null", O_PATH);
    expect_err("null_read_o_path", read(p, buf, 1), EBADF);
    expect_err("null_write_o_path", write(p, "a", 1), EBADF);
    close(p);
}

/* A number that named /dev/zero and now names a file must read the file. */
static void reused_numbers(void)
{
    char buf[16];
    int z = open("/dev/zero", O_RDONLY);
    close(z);
    int f = open_text_file();
    memset(buf, 0, sizeof buf);
    long n = read(f, buf, 10);
    checkf("reused_after_close", f == z && n == 10 && memcmp(buf, "hello file", 10) == 0, "%.*s", (int)(n > 0 ? n : 0), buf);

    z = open("/dev/zero", O_RDONLY);
    lseek(f, 0, SEEK_SET);
    dup2(f, z); /* z now names the file */
    memset(buf, 0, sizeof buf);
    n = read(z, buf, 5);
    checkf("replaced_by_dup2", n == 5 && memcmp(buf, "hello", 5) == 0, "%.*s", (int)(n > 0 ? n : 0), buf);
    close(z);

    z = open("/dev/zero", O_RDONLY);
    lseek(f, 0, SEEK_SET);
    dup3(f, z, O_CLOEXEC);
    n = read(z, buf, 5);
    checkf("replaced_by_dup3", n == 5 && memcmp(buf, "hello", 5) == 0, "%.*s", (int)(n > 0 ? n : 0), buf);
    close(z);
    close(f);
    unlink("text");
}

/* Copies of a device descriptor are the device too, with the same access mode. */
static void duplicates(void)
{
    unsigned char buf[8];
    int w = open("/dev/null", O_WRONLY);
    int d = dup(w);
    int d2 = fcntl(w, F_DUPFD_CLOEXEC, 20);
    int saved = dup(1);
    fflush(stdout);
    dup2(w, 1); /* stdout into /dev/null: this line is swallowed */
    printf("swallowed\n");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    checkf("dup_write", write(d, "ab", 2) == 2, "2");
    expect_err("dup_read_wronly", read(d, buf, 1), EBADF);
    checkf("fcntl_dupfd_write", d2 >= 20 && write(d2, "ab", 2) == 2, "2");
    close(w);
    close(d);
    close(d2);

    int z = open("/dev/zero", O_RDONLY);
    pid_t pid = fork();
    if (pid == 0) {
        memset(buf, 0xaa, sizeof buf);
        _exit(read(z, buf, 8) == 8 && all_bytes(buf, 8, 0) ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    checkf("zero_in_forked_child", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(z);
}

/* The device reopened through /proc/self/fd/N and through another spelling of its path
 * behaves as the device too. */
static void other_paths(void)
{
    int n = open("/dev/null", O_WRONLY);
    char p[64], buf[8] = "x";
    snprintf(p, sizeof p, "/proc/self/fd/%d", n);
    int again = open(p, O_RDWR);
    checkf("proc_fd_reopen", again >= 0 && read(again, buf, 8) == 0 && write(again, "abc", 3) == 3, "%d", again);
    int z = open("/dev/./zero", O_RDONLY);
    checkf("zero_other_spelling", z >= 0 && read(z, buf, 8) == 8 && buf[0] == 0, "%d", z);
    close(z);
    close(again);
    close(n);
}

int main(void)
{
    const char *dir = make_tmpdir();
    chdir(dir);
    zero_contents();
    zero_buffers();
    null_device();
    reused_numbers();
    duplicates();
    other_paths();
    rmdir(dir);
    return finish();
}
