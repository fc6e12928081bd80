/* brk: query, grow, touch, shrink, and the kernel's "return current break on
 * failure" convention (raw syscall: glibc's sbrk hides it). */
#include "common.h"
#include <sys/syscall.h>

int main(void)
{
    /* stdout's buffer from a static array, not from malloc: on the break heap it would
     * lie in the range this test writes over and shrinks away (the dynamically linked
     * glibc build died with SIGSEGV there, natively too, with its output lost). */
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    unsigned long cur = syscall(SYS_brk, 0);
    check("brk_query_nonzero", cur != 0);
    check("brk_query_stable", syscall(SYS_brk, 0) == (long)cur);

    /* Grow by 1 MiB + a bit (not page aligned), touch all of it. */
    unsigned long want = cur + (1 << 20) + 123;
    unsigned long got = syscall(SYS_brk, want);
    check("brk_grow_returns_new", got == want);
    unsigned char *p = (unsigned char *)cur;
    for (unsigned long i = 0; i < want - cur; i++)
        p[i] = (unsigned char)i;
    unsigned long sum = 0;
    for (unsigned long i = 0; i < want - cur; i++)
        sum += p[i];
    checkf("brk_touch_sum", 1, "%lu", sum);

    /* Fresh brk memory is zero-filled: shrink, grow again, look at the bytes. */
    check("brk_shrink", syscall(SYS_brk, cur + 4096) == (long)(cur + 4096));
    check("brk_regrow", syscall(SYS_brk, cur + 3 * 4096) == (long)(cur + 3 * 4096));
    int zero = 1;
    for (unsigned long i = 4096; i < 3 * 4096; i++)
        zero &= p[i] == 0;
    check("brk_regrow_zeroed", zero);
    /* Bytes below the shrink point (in the still-mapped first page) survive. */
    check("brk_kept_data", p[100] == 100);

    /* A grow that is not page aligned succeeds and is reported exactly. */
    check("brk_small_grow", syscall(SYS_brk, cur + 3 * 4096 + 10) == (long)(cur + 3 * 4096 + 10));

    /* Shrinking below the initial break fails: the kernel returns the old break. */
    unsigned long before = syscall(SYS_brk, 0);
    check("brk_below_start_refused", syscall(SYS_brk, cur - (1 << 20)) == (long)before);
    /* An absurd request fails the same way. */
    check("brk_huge_refused", syscall(SYS_brk, cur + (1UL << 46)) == (long)before);

    /* Back to the start. */
    check("brk_restore", syscall(SYS_brk, cur) == (long)cur);

    /* sbrk via glibc works on top of the same break. */
    void *s0 = sbrk(0);
    void *s1 = sbrk(8192);
    check("sbrk_grow", s1 == s0 && sbrk(0) == (char *)s0 + 8192);
    memset(s1, 0x5a, 8192);
    check("sbrk_shrink", sbrk(-8192) != (void *)-1 && sbrk(0) == s0);
    return finish();
}
