/* SIGSEGV delivery details: siginfo si_signo/si_code/si_addr for unmapped and
 * write-protected pages, siglongjmp out of the handler, fault after munmap, and
 * a fault on a guard page in the middle of a mapping. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

static sigjmp_buf g_jmp;
static volatile siginfo_t g_info;
static volatile int g_count;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_info.si_signo = sig;
    g_info.si_code = si->si_code;
    g_info.si_addr = si->si_addr;
    g_info.si_errno = si->si_errno;
    g_count++;
    siglongjmp(g_jmp, 1);
}

static const char *code_name(int c)
{
    switch (c) {
    case SEGV_MAPERR: return "SEGV_MAPERR";
    case SEGV_ACCERR: return "SEGV_ACCERR";
    case SI_KERNEL: return "SI_KERNEL";
    default: return "other";
    }
}

/* Fault on addr (read or write); report what the handler saw. */
static void probe(const char *name, volatile char *addr, int write, int want_code)
{
    memset((void *)&g_info, 0, sizeof g_info);
    volatile int faulted = 0;
    if (sigsetjmp(g_jmp, 1) == 0) {
        if (write)
            *addr = 42;
        else
            (void)*addr;
    } else {
        faulted = 1;
    }
    char line[128];
    snprintf(line, sizeof line, "%s_faulted", name);
    check(line, faulted);
    snprintf(line, sizeof line, "%s_signo", name);
    checkf(line, g_info.si_signo == SIGSEGV, "%d", g_info.si_signo);
    snprintf(line, sizeof line, "%s_code", name);
    checkf(line, g_info.si_code == want_code, "%s", code_name(g_info.si_code));
    snprintf(line, sizeof line, "%s_addr_exact", name);
    check(line, g_info.si_addr == (void *)addr);
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    check("sigaction_segv", sigaction(SIGSEGV, &sa, NULL) == 0);

    const size_t pg = 4096;
    char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("mmap", m != MAP_FAILED);

    /* Write to a read-only page: SEGV_ACCERR, address exact (odd offset). */
    mprotect(m, pg, PROT_READ);
    probe("write_readonly", m + 123, 1, SEGV_ACCERR);
    /* Read of a PROT_NONE page: also SEGV_ACCERR. */
    mprotect(m + pg, pg, PROT_NONE);
    probe("read_protnone", m + pg + 7, 0, SEGV_ACCERR);
    /* Unmapped page (munmap'd): SEGV_MAPERR. */
    munmap(m + 2 * pg, pg);
    probe("read_after_munmap", m + 2 * pg + 4095, 0, SEGV_MAPERR);
    probe("write_after_munmap", m + 2 * pg, 1, SEGV_MAPERR);
    /* The page after the hole is still fine. */
    m[3 * pg] = 5;
    check("page_after_hole_ok", m[3 * pg] == 5);
    /* A low unmapped address. */
    probe("read_low_addr", (volatile char *)0x1000, 0, SEGV_MAPERR);

    /* A non-canonical address raises #GP, not #PF: Linux reports SI_KERNEL with
     * si_addr 0 rather than the address. */
    memset((void *)&g_info, 0, sizeof g_info);
    int gp = 0;
    if (sigsetjmp(g_jmp, 1) == 0)
        (void)*(volatile char *)0x8000000000001000UL;
    else
        gp = 1;
    check("noncanonical_faulted", gp);
    checkf("noncanonical_code", g_info.si_code == SI_KERNEL, "%s", code_name(g_info.si_code));
    check("noncanonical_addr_zero", g_info.si_addr == NULL);

    /* The handler's mask is restored by siglongjmp(…, savemask=1): SIGSEGV is not
     * left blocked, so repeated faults keep being delivered. */
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    check("segv_unblocked_after_longjmp", !sigismember(&cur, SIGSEGV));
    checkf("handler_count", g_count == 6, "%d", g_count);

    /* Make the read-only page writable again and write: no fault. */
    mprotect(m, pg, PROT_READ | PROT_WRITE);
    m[123] = 1;
    check("write_after_reprotect", m[123] == 1);
    return finish();
}
