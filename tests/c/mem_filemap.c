/* File-backed mmap: MAP_PRIVATE copy-on-write, demand paging across close(fd), SIGBUS
 * beyond the end of the file, MADV_DONTNEED re-reading the file, MAP_SHARED writes
 * reaching the file, msync and mincore. */
#include "common.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PG 4096UL

static sigjmp_buf g_jmp;
static volatile int g_sig, g_code;
static void *volatile g_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_sig = sig;
    g_code = si->si_code;
    g_addr = si->si_addr;
    siglongjmp(g_jmp, 1);
}

/* The signal reading *p raises (0: none). */
static int read_signal(volatile char *p)
{
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0)
        (void)*p;
    return g_sig;
}

static char pattern(size_t i)
{
    return (char)(i * 7 + 3);
}

/* A file of `len` pattern bytes in the work directory; returns an O_RDWR fd. */
static int make_file(const char *name, size_t len)
{
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char *buf = malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(i);
    if (write(fd, buf, len) != (ssize_t)len)
        printf("setup write failed\n");
    free(buf);
    return fd;
}

static int matches_file(const char *p, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(off + i))
            return 0;
    return 1;
}

static void private_mappings(void)
{
    const size_t flen = 3 * PG + 100;
    int fd = make_file("private.bin", flen);
    char *p = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check("private_mmap", p != MAP_FAILED);
    close(fd);
    /* The mapping keeps the file: pages are read after the fd is gone. */
    check("private_survives_close", matches_file(p, 0, PG) && matches_file(p + 2 * PG, 2 * PG, PG));
    check("private_last_page_data", matches_file(p + 3 * PG, 3 * PG, 100));
    int tail_zero = 1;
    for (size_t i = 100; i < PG; i++)
        tail_zero &= p[3 * PG + i] == 0;
    check("private_last_page_tail_zero", tail_zero);
    int sig = read_signal(p + 4 * PG);
    checkf("private_beyond_eof_sigbus", sig == SIGBUS && g_code == BUS_ADRERR && g_addr == p + 4 * PG, "%d/%d",
           sig, g_code);

    /* Copy-on-write: writes stay in the mapping. */
    p[10] = 'X';
    p[PG + 1] = 'Y';
    char buf[16];
    fd = open("private.bin", O_RDWR);
    check("private_write_private", pread(fd, buf, 16, 0) == 16 && buf[10] == pattern(10) && p[10] == 'X');

    /* A change to the file does not reach a page the mapping wrote (its private copy). */
    check("private_file_changed", pwrite(fd, "Z", 1, PG + 1) == 1);
    check("private_written_page_kept", p[PG + 1] == 'Y');

    /* MADV_DONTNEED on a private file mapping: the file's (current) bytes come back. */
    check("private_dontneed", madvise(p, 2 * PG, MADV_DONTNEED) == 0);
    check("private_dontneed_rereads", p[10] == pattern(10) && p[PG + 1] == 'Z');
    pwrite(fd, buf, 1, PG + 1);
    buf[0] = pattern(PG + 1);
    pwrite(fd, buf, 1, PG + 1);
    expect_err("private_madv_free_einval", madvise(p, PG, MADV_FREE), EINVAL);

    /* Unmapping the middle keeps both sides at their file offsets. */
    check("private_munmap_middle", munmap(p + PG, PG) == 0);
    check("private_split_offsets", matches_file(p, 0, PG) && matches_file(p + 2 * PG, 2 * PG, PG));
    munmap(p, 5 * PG);

    /* A mapping at a file offset; mremap moves it, untouched pages still come from the file. */
    char *q = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, PG);
    check("private_offset", q != MAP_FAILED && matches_file(q, PG, 16));
    char *r = mremap(q, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
    check("private_mremap", r != MAP_FAILED && matches_file(r, PG, PG) && matches_file(r + PG, 2 * PG, PG));
    munmap(r, 64 * PG);
    close(fd);

    /* Mapping needs read access to the file. */
    fd = open("private.bin", O_WRONLY);
    expect_err("private_wronly_eacces", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0, EACCES);
    close(fd);
    expect_err("private_bad_fd", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0) == MAP_FAILED ? -1 : 0, EBADF);
    unlink("private.bin");
}

static void shared_mappings(void)
{
    int fd = make_file("shared.bin", 2 * PG + 10);
    char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check("shared_mmap", p != MAP_FAILED);
    check("shared_reads_file", matches_file(p, 0, 2 * PG + 10));
    /* Writes reach the file at once: read() of the same file sees them. */
    memcpy(p, "hello", 5);
    memcpy(p + PG + 7, "world", 5);
    char buf[8] = {0};
    check("shared_write_visible_pread", pread(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0);
    check("shared_write_visible_pread2", pread(fd, buf, 5, PG + 7) == 5 && memcmp(buf, "world", 5) == 0);
    /* ...and the other way round: a write() to the file shows in the mapping. */
    check("shared_pwrite", pwrite(fd, "HELLO", 5, 0) == 5);
    check("shared_pwrite_visible", memcmp(p, "HELLO", 5) == 0);
    check("shared_msync", msync(p, 2 * PG, MS_SYNC) == 0);
    check("shared_msync_async", msync(p, PG, MS_ASYNC) == 0);
    /* The tail of the last page past the end of the file reads as zero; a page beyond it
     * is SIGBUS. */
    check("shared_tail_zero", p[2 * PG + 10] == 0 && p[3 * PG - 1] == 0);
    int sig = read_signal(p + 3 * PG);
    checkf("shared_beyond_eof_sigbus", sig == SIGBUS && g_code == BUS_ADRERR, "%d/%d", sig, g_code);
    /* MADV_DONTNEED drops only this mapping of the pages: the data stays in the file. */
    check("shared_dontneed", madvise(p, PG, MADV_DONTNEED) == 0 && memcmp(p, "HELLO", 5) == 0);
    /* A second mapping of the same file sees the same bytes. */
    char *q = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
    check("shared_second_mapping", q != MAP_FAILED && memcmp(q + 7, "world", 5) == 0);
    p[PG + 7] = 'W';
    check("shared_second_mapping_coherent", q[7] == 'W');
    munmap(q, PG);
    /* Kernel copies into a shared mapping (read() into it) land in the file too. */
    int src = make_file("src.bin", 64);
    check("shared_read_into", pread(src, p + 100, 16, 0) == 16 && matches_file(p + 100, 0, 16));
    close(src);
    unlink("src.bin");
    close(fd);
    /* The mapping outlives the fd; its writes stay in the file after munmap. (That another
     * process sees them while mapped is host-monitor/tests/cli.rs's check: no fork here.) */
    memcpy(p, "after", 5);
    check("shared_munmap", munmap(p, 4 * PG) == 0);

    /* Read-only fds: PROT_WRITE shared mappings are EACCES, and so is mprotect to add it. */
    fd = open("shared.bin", O_RDONLY);
    expect_err("shared_rdonly_write_eacces", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0,
               EACCES);
    char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    check("shared_rdonly_read", r != MAP_FAILED && memcmp(r, "after", 5) == 0);
    expect_err("shared_rdonly_mprotect_eacces", mprotect(r, PG, PROT_READ | PROT_WRITE), EACCES);
    munmap(r, PG);
    close(fd);
    unlink("shared.bin");
}

static void fixed_mappings(void)
{
    int fd = make_file("fixed.bin", 2 * PG);
    char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 0x42, 4 * PG);
    /* MAP_FIXED replaces what was there with the file's pages. */
    char *f = mmap(a + PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    check("fixed_replaces", f == a + PG && matches_file(f, 0, 2 * PG) && a[0] == 0x42 && a[3 * PG] == 0x42);
    /* MAP_FIXED_NOREPLACE refuses any overlap, takes a free range. */
    errno = 0;
    void *n = mmap(a + 2 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
    checkf("noreplace_overlap_eexist", n == MAP_FAILED && errno == EEXIST, "%s", n == MAP_FAILED ? errname(errno) : "mapped");
    munmap(a + 3 * PG, PG);
    n = mmap(a + 3 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, PG);
    check("noreplace_free_ok", n == a + 3 * PG && matches_file(n, PG, PG));
    munmap(a, 4 * PG);
    close(fd);
    unlink("fixed.bin");
}

static void mincore_and_msync(void)
{
    unsigned char vec[8];
    char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    a[0] = 1;
    a[2 * PG] = 1;
    check("mincore", mincore(a, 4 * PG, vec) == 0);
    /* Only the touched pages: whether their untouched neighbours are resident too is the
     * kernel's fault-granularity policy (Linux's multi-size THP makes whole 16-page folios
     * resident; linuxrun maps 16 pages around an anonymous fault). */
    checkf("mincore_resident", 1, "%d%d", vec[0] & 1, vec[2] & 1);
    madvise(a, 4 * PG, MADV_DONTNEED);
    mincore(a, 4 * PG, vec);
    checkf("mincore_after_dontneed", 1, "%d%d%d%d", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1);
    check("mincore_partial_len", mincore(a, 1, vec) == 0);
    expect_err("mincore_unaligned", mincore(a + 1, PG, vec), EINVAL);
    munmap(a + 2 * PG, PG);
    expect_err("mincore_hole_enomem", mincore(a, 4 * PG, vec), ENOMEM);
    expect_err("mincore_bad_vec", mincore(a, PG, (unsigned char *)8), EFAULT);

    check("msync_private", msync(a, PG, MS_SYNC) == 0);
    check("msync_async", msync(a, PG, MS_ASYNC | MS_INVALIDATE) == 0);
    check("msync_zero_len", msync(a, 0, MS_SYNC) == 0);
    expect_err("msync_both", msync(a, PG, MS_SYNC | MS_ASYNC), EINVAL);
    expect_err("msync_bad_flag", msync(a, PG, 0x100), EINVAL);
    expect_err("msync_unaligned", msync(a + 1, PG, MS_SYNC), EINVAL);
    expect_err("msync_hole_enomem", msync(a, 4 * PG, MS_SYNC), ENOMEM);
    munmap(a, 4 * PG);
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    private_mappings();
    shared_mappings();
    fixed_mappings();
    mincore_and_msync();
    return finish();
}
