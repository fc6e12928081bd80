/* Anonymous mmap/munmap/mprotect/mremap/madvise and their Linux-specific results. */
#include "common.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <setjmp.h>
#include <signal.h>

static sigjmp_buf g_jmp;
static volatile int g_faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)si; (void)uc;
    g_faults++;
    siglongjmp(g_jmp, 1);
}

/* Returns 1 if reading *p faults. */
static int read_faults(volatile char *p)
{
    if (sigsetjmp(g_jmp, 1))
        return 1;
    (void)*p;
    return 0;
}
static int write_faults(volatile char *p)
{
    if (sigsetjmp(g_jmp, 1))
        return 1;
    *p = 1;
    return 0;
}

/* Resident pages of [p, p + n pages), as mincore reports them. */
static int resident_pages(char *p, size_t n, size_t pg)
{
    unsigned char vec[1024];
    if (n > sizeof vec || mincore(p, n * pg, vec) != 0)
        return -1;
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

/* MAP_POPULATE makes a mapping resident before its first touch (anonymous and private file
 * mappings alike), and a small mapping that reuses freed memory still reads as zeros. */
static void populate_and_recycle(size_t pg)
{
    char *a = mmap(NULL, 256 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    check("populate_anon", a != MAP_FAILED);
    checkf("populate_anon_resident", resident_pages(a, 256, pg) == 256, "%d of 256", resident_pages(a, 256, pg));
    check("populate_anon_zero", a[0] == 0 && a[255 * pg + 17] == 0);
    munmap(a, 256 * pg);

    FILE *tmp = tmpfile();
    check("populate_file_tmp", tmp != NULL);
    for (size_t i = 0; tmp && i < 8 * pg; i++)
        fputc('a' + (int)(i % 23), tmp);
    fflush(tmp);
    char *f = tmp ? mmap(NULL, 8 * pg, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(tmp), 0) : MAP_FAILED;
    check("populate_file", f != MAP_FAILED);
    if (f != MAP_FAILED) {
        checkf("populate_file_resident", resident_pages(f, 8, pg) == 8, "%d of 8", resident_pages(f, 8, pg));
        check("populate_file_contents", f[0] == 'a' && f[8 * pg - 1] == 'a' + (int)((8 * pg - 1) % 23));
        munmap(f, 8 * pg);
    }
    if (tmp)
        fclose(tmp);

    /* PROT_NONE with MAP_POPULATE: accepted, nothing made accessible. */
    char *n = mmap(NULL, 4 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    check("populate_prot_none", n != MAP_FAILED && read_faults(n));
    munmap(n, 4 * pg);

    /* Small mappings made and dropped in a loop (malloc's pattern for odd sizes) always
     * come back zeroed, whatever the memory held before. */
    int zeroed = 1;
    for (int round = 0; round < 50; round++) {
        size_t len = (size_t)(1 + round % 16) * pg;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            zeroed = 0;
            break;
        }
        for (size_t i = 0; i < len; i += 512)
            zeroed &= m[i] == 0;
        memset(m, 0x5a, len);
        munmap(m, len);
    }
    check("small_mmap_recycled_zero", zeroed);
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    const size_t pg = 4096;
    char *p = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("mmap_anon", p != MAP_FAILED);
    check("mmap_page_aligned", ((unsigned long)p & (pg - 1)) == 0);
    int zero = 1;
    for (size_t i = 0; i < 16 * pg; i++)
        zero &= p[i] == 0;
    check("mmap_zero_filled", zero);
    memset(p, 0xab, 16 * pg);
    check("mmap_rw", p[16 * pg - 1] == (char)0xab);

    /* mprotect read-only: reads work, writes fault; back to RW works. */
    check("mprotect_ro", mprotect(p, pg, PROT_READ) == 0);
    check("mprotect_ro_read_ok", !read_faults(p));
    check("mprotect_ro_write_faults", write_faults(p));
    check("mprotect_rw", mprotect(p, pg, PROT_READ | PROT_WRITE) == 0);
    check("mprotect_rw_write_ok", !write_faults(p));
    check("mprotect_none", mprotect(p + pg, pg, PROT_NONE) == 0);
    check("mprotect_none_read_faults", read_faults(p + pg));
    check("mprotect_restore", mprotect(p + pg, pg, PROT_READ | PROT_WRITE) == 0);
    expect_err("mprotect_unaligned", mprotect(p + 1, pg, PROT_READ), EINVAL);

    /* madvise(MADV_DONTNEED) on private anonymous memory: the next read sees zeros. */
    memset(p, 0x77, 4 * pg);
    check("madvise_dontneed", madvise(p, 2 * pg, MADV_DONTNEED) == 0);
    check("madvise_dontneed_zeroed", p[0] == 0 && p[2 * pg - 1] == 0);
    check("madvise_dontneed_rest_kept", p[2 * pg] == 0x77);
    check("madvise_willneed", madvise(p, pg, MADV_WILLNEED) == 0);
    expect_err("madvise_bad_advice", madvise(p, pg, 12345), EINVAL);

    /* munmap part of the range: that part faults, neighbours stay. */
    check("munmap_middle", munmap(p + 4 * pg, pg) == 0);
    check("munmap_middle_faults", read_faults(p + 4 * pg));
    check("munmap_neighbours_ok", !read_faults(p + 3 * pg) && !read_faults(p + 5 * pg));
    check("munmap_unmapped_again_ok", munmap(p + 4 * pg, pg) == 0);
    expect_err("munmap_unaligned", munmap(p + 1, pg), EINVAL);
    expect_err("munmap_zero_len", munmap(p, 0), EINVAL);

    /* mremap: shrink in place, grow (in place or moved), data preserved. */
    char *q = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < 4 * pg; i++)
        q[i] = (char)(i * 13);
    char *r = mremap(q, 4 * pg, 2 * pg, 0);
    check("mremap_shrink_in_place", r == q);
    check("mremap_shrink_tail_unmapped", read_faults(q + 3 * pg));
    /* Block the area right after q so growing in place is impossible. */
    char *blocker = mmap(q + 2 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check("mmap_fixed_noreplace", blocker == q + 2 * pg);
    expect_err("mmap_fixed_noreplace_busy",
               mmap(q, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED ? -1 : 0,
               EEXIST);
    errno = 0;
    char *grown = mremap(q, 2 * pg, 64 * pg, 0);
    checkf("mremap_grow_no_move_blocked", grown == MAP_FAILED && errno == ENOMEM, "%s",
           grown == MAP_FAILED ? errname(errno) : "succeeded");
    char *moved = mremap(q, 2 * pg, 64 * pg, MREMAP_MAYMOVE);
    check("mremap_maymove", moved != MAP_FAILED && moved != q);
    int same = 1;
    for (size_t i = 0; moved != MAP_FAILED && i < 2 * pg; i++)
        same &= moved[i] == (char)(i * 13);
    check("mremap_data_preserved", same);
    check("mremap_old_unmapped", read_faults(q));
    int tailzero = 1;
    for (size_t i = 2 * pg; moved != MAP_FAILED && i < 64 * pg; i++)
        tailzero &= moved[i] == 0;
    check("mremap_grown_tail_zero", tailzero);
    expect_err("mremap_bad_flags", mremap(moved, pg, pg, 0x100) == MAP_FAILED ? -1 : 0, EINVAL);
    munmap(blocker, pg);
    munmap(moved, 64 * pg);

    /* mremap grows in place when the following pages are free. */
    char *g = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(g + 2 * pg, 6 * pg);
    g[0] = 7;
    char *gi = mremap(g, 2 * pg, 8 * pg, 0);
    check("mremap_grow_in_place", gi == g && g[0] == 7 && g[8 * pg - 1] == 0);
    munmap(g, 8 * pg);

    /* MAP_FIXED replaces an existing mapping with fresh zero pages. */
    memset(p, 0x11, pg);
    char *f = mmap(p, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check("mmap_fixed_replace", f == p && p[0] == 0);

    /* Argument errors. */
    expect_err("mmap_zero_len", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
    expect_err("mmap_no_type", mmap(NULL, pg, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);
    expect_err("mmap_bad_fd", mmap(NULL, pg, PROT_READ, MAP_PRIVATE, 1000, 0) == MAP_FAILED ? -1 : 0, EBADF);
    expect_err("mmap_unaligned_fixed", mmap(p + 1, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ? -1 : 0, EINVAL);

    /* A large sparse reservation costs nothing until touched. */
    size_t big = 1UL << 34; /* 16 GiB */
    char *s = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    check("mmap_16g_noreserve", s != MAP_FAILED);
    if (s != MAP_FAILED) {
        s[0] = 1;
        s[big / 2] = 2;
        s[big - 1] = 3;
        check("mmap_16g_sparse_touch", s[0] + s[big / 2] + s[big - 1] == 6);
        check("munmap_16g", munmap(s, big) == 0);
    }

    /* MAP_SHARED|MAP_ANONYMOUS memory works like private in a single process. */
    char *sh = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check("mmap_shared_anon", sh != MAP_FAILED && sh[0] == 0);
    if (sh != MAP_FAILED) {
        sh[1] = 9;
        check("mmap_shared_anon_rw", sh[1] == 9);
    }

    /* MAP_GROWSDOWN / MAP_STACK / MAP_POPULATE flags are accepted. */
    char *pp = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_STACK, -1, 0);
    check("mmap_populate_stack", pp != MAP_FAILED && pp[8 * pg - 1] == 0);

    populate_and_recycle(pg);

    checkf("segv_handler_ran", g_faults == 6, "%d faults", g_faults);
    return finish();
}
