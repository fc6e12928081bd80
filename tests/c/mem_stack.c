/* Stack growth: the main stack grows down on demand up to RLIMIT_STACK (beyond it the
 * program gets SIGSEGV), and MAP_GROWSDOWN mappings grow too. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define PG 4096UL

static sigjmp_buf g_jmp;
static volatile int g_sig;

static void on_segv(int sig)
{
    g_sig = sig;
    siglongjmp(g_jmp, 1);
}

/* Recurse using about `kib` KiB of stack; returns a value depending on every frame. */
static __attribute__((noinline)) unsigned long deep(int kib)
{
    volatile char frame[1024];
    frame[0] = (char)kib;
    frame[1023] = 1;
    if (kib <= 1)
        return frame[0];
    return deep(kib - 1) + frame[1023];
}

/* The signal (0: none) recursing through `kib` KiB of stack raises. */
static int recurse_signal(int kib)
{
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0) {
        unsigned long r = deep(kib);
        if (r != (unsigned long)kib)
            printf("deep(%d) = %lu\n", kib, r);
    }
    return g_sig;
}

int main(void)
{
    /* SIGSEGV from a stack overflow needs another stack to run on. */
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);

    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    check("rlimit_stack_default_8m", rl.rlim_cur == 8UL << 20);

    /* A lower limit stops growth there. */
    struct rlimit low = {1UL << 20, rl.rlim_max};
    check("setrlimit_1m", setrlimit(RLIMIT_STACK, &low) == 0);
    int sig = recurse_signal(2048);
    checkf("overflow_1m_limit", sig == SIGSEGV, "signal %d", sig);
    check("setrlimit_back", setrlimit(RLIMIT_STACK, &rl) == 0);

    /* 6 MiB of stack fits in the default 8 MiB. */
    sig = recurse_signal(6 * 1024);
    checkf("grow_6m", sig == 0, "signal %d", sig);
    /* 16 MiB does not. */
    sig = recurse_signal(16 * 1024);
    checkf("overflow_16m", sig == SIGSEGV, "signal %d", sig);

    /* MAP_GROWSDOWN: a fault below the mapping grows it (here above an inaccessible
     * reservation, which needs no guard gap). */
    char *r = mmap(NULL, 2 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *g = mmap(r + (2 << 20) - PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
                   -1, 0);
    check("growsdown_mmap", g == r + (2 << 20) - PG);
    munmap(r + (1 << 20), (1 << 20) - PG);
    g_sig = 0;
    if (sigsetjmp(g_jmp, 1) == 0) {
        g[-8 * (long)PG] = 5;
        check("growsdown_grows", g[-8 * (long)PG] == 5 && g[-(long)PG] == 0);
    } else {
        check("growsdown_grows", 0);
    }
    unsigned char vec[16];
    int rc = mincore(g - 8 * PG, 9 * PG, vec);
    /* The touched page only: untouched neighbours may be resident too (fault granularity
     * is the kernel's policy: multi-size THP on Linux, fault-around in linuxrun). */
    checkf("growsdown_mincore", rc == 0, "%d", vec[0] & 1);
    munmap(r, 2 << 20);
    return finish();
}
