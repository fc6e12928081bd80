/* Fresh anonymous memory, the way a growing program meets it: pages next to a touched one
 * read as zero and keep their own protection (a PROT_NONE page inside a run still faults,
 * a read-only mapping stays read-only); hundreds of MiB in small and large pieces, then a
 * fork whose child reads all of it, grows further and writes without the parent seeing it;
 * the same for the program's own zero-initialised data (its bss). (linuxrun maps neighbours of a faulting page ahead of use, and registers guest RAM with
 * the hypervisor in growing pieces; neither may show.) */
#include "common.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096L
#define MIB (1L << 20)

static sigjmp_buf g_jmp;
static volatile sig_atomic_t g_sig;

static void on_fault(int sig)
{
    g_sig = sig;
    siglongjmp(g_jmp, 1);
}

/* Whether writing (or reading) *p raises a signal; 0 or the signal. */
static int faults(volatile char *p, int write)
{
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0) {
        if (write)
            *p = 1;
        else
            (void)*p;
    }
    return g_sig;
}

static void expect_signal(const char *name, volatile char *p, int write, int want)
{
    int got = faults(p, write);
    checkf(name, got == want, "%d", got);
}

static void neighbours(void)
{
    char *m = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("neigh_mmap", m != MAP_FAILED);
    m[3 * PG + 7] = 'x';
    long nonzero = 0;
    for (long i = 0; i < 64 * PG; i++)
        nonzero += m[i] != 0;
    checkf("neigh_only_written_byte", nonzero == 1 && m[3 * PG + 7] == 'x', "%ld", nonzero);
    m[4 * PG] = 'y';
    check("neigh_own_frames", m[3 * PG] == 0 && m[4 * PG] == 'y' && m[3 * PG + 7] == 'x');
    munmap(m, 64 * PG);

    /* A PROT_NONE page in the middle of a run. */
    char *g = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("guard_mprotect", mprotect(g + 8 * PG, PG, PROT_NONE) == 0);
    g[7 * PG] = 1;
    expect_signal("guard_read_faults", g + 8 * PG, 0, SIGSEGV);
    expect_signal("guard_write_faults", g + 8 * PG, 1, SIGSEGV);
    expect_signal("after_guard_writable", g + 9 * PG, 1, 0);
    check("guard_lift", mprotect(g + 8 * PG, PG, PROT_READ | PROT_WRITE) == 0);
    check("guard_lifted_zero", g[8 * PG] == 0);
    expect_signal("guard_lifted_writable", g + 8 * PG, 1, 0);
    munmap(g, 16 * PG);

    /* Read-only anonymous memory: reads give zero, no page becomes writable. */
    char *r = mmap(NULL, 16 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("ro_read_zero", r[0] == 0 && r[5 * PG] == 0);
    expect_signal("ro_write_faults", r + PG, 1, SIGSEGV);
    expect_signal("ro_write_faults_same_page", r, 1, SIGSEGV);
    munmap(r, 16 * PG);

    /* A mapping ends where the next one starts: touching its last page must not reach
     * into the neighbour. */
    char *two = mmap(NULL, 32 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + 8 * PG, 8 * PG);
    two[7 * PG] = 1;
    expect_signal("hole_still_hole", two + 8 * PG, 0, SIGSEGV);
    munmap(two, 32 * PG);
}

/* The program's own zero-initialised data: its ELF segment's memory beyond the file bytes,
 * first touched here a page at a time (linuxrun maps neighbouring pages with it). The
 * initialised data next to it keeps its values. */
static unsigned char image_bss_block[3 * MIB];
static unsigned char image_data_block[4 * PG] = {[0] = 1, [4 * PG - 1] = 2};

static uint64_t image_bss(void)
{
    image_bss_block[5 * PG + 3] = 'b';
    long nonzero = 0;
    for (long i = 0; i < 64 * PG; i++)
        nonzero += image_bss_block[i] != 0;
    checkf("bss_only_written_byte", nonzero == 1, "%ld", nonzero);
    for (long off = 0; off < (long)sizeof image_bss_block; off += 3 * PG)
        image_bss_block[off] = (unsigned char)(off / PG);
    uint64_t h = fnv1a(image_bss_block, sizeof image_bss_block, FNV_INIT);
    checkf("bss_pattern", 1, "%llx", (unsigned long long)h);
    check("data_kept", image_data_block[0] == 1 && image_data_block[4 * PG - 1] == 2 && image_data_block[PG] == 0);
    return h;
}

/* Fill `n` pieces of `piece` bytes with a pattern that depends on `seed`; return its sum. */
static uint64_t fill(unsigned char **pieces, int n, size_t piece, unsigned seed)
{
    uint64_t h = FNV_INIT;
    for (int i = 0; i < n; i++) {
        for (size_t off = 0; off < piece; off += 256)
            pieces[i][off] = (unsigned char)(seed + i * 31 + off / 256);
        h = fnv1a(pieces[i], piece, h);
    }
    return h;
}

static uint64_t sum(unsigned char **pieces, int n, size_t piece)
{
    uint64_t h = FNV_INIT;
    for (int i = 0; i < n; i++)
        h = fnv1a(pieces[i], piece, h);
    return h;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {0};
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    neighbours();
    uint64_t bss_sum = image_bss();

    /* 160 MiB in 1 MiB mallocs (4 KiB pages) and 96 MiB in one aligned-friendly mmap. */
    enum { SMALL = 160 };
    static unsigned char *small[SMALL];
    for (int i = 0; i < SMALL; i++)
        small[i] = malloc(MIB);
    uint64_t small_sum = fill(small, SMALL, MIB, 1);
    unsigned char *big = mmap(NULL, 96 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("big_mmap", big != MAP_FAILED);
    uint64_t big_sum = fill(&big, 1, 96 * MIB, 2);
    checkf("sums", 1, "%llx %llx", (unsigned long long)small_sum, (unsigned long long)big_sum);

    pid_t pid = fork();
    if (pid == 0) {
        int ok = sum(small, SMALL, MIB) == small_sum && sum(&big, 1, 96 * MIB) == big_sum
                 && fnv1a(image_bss_block, sizeof image_bss_block, FNV_INIT) == bss_sum;
        enum { MORE = 200 };
        static unsigned char *more[MORE];
        for (int i = 0; i < MORE; i++)
            more[i] = malloc(MIB);
        uint64_t more_sum = fill(more, MORE, MIB, 3);
        ok = ok && sum(more, MORE, MIB) == more_sum;
        fill(small, SMALL, MIB, 4);
        memset(big, 0x5a, 96 * MIB);
        memset(image_bss_block, 0x77, sizeof image_bss_block);
        _exit(ok ? 0 : 1);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    checkf("child_saw_and_grew", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%#x", st);
    check("parent_unchanged", sum(small, SMALL, MIB) == small_sum && sum(&big, 1, 96 * MIB) == big_sum
                                  && fnv1a(image_bss_block, sizeof image_bss_block, FNV_INIT) == bss_sum);

    /* Freed and allocated again: reused memory comes back zeroed. */
    for (int i = 0; i < SMALL; i++)
        free(small[i]);
    munmap(big, 96 * MIB);
    unsigned char *again = mmap(NULL, 64 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long nonzero = 0;
    for (long i = 0; i < 64 * MIB; i += 64)
        nonzero += again[i] != 0;
    checkf("reused_zero", nonzero == 0, "%ld", nonzero);
    return finish();
}
