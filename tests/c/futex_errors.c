/* futex(2) argument errors, served in linuxrun's guest kernel: Linux's get_futex_key
 * decides EINVAL (misaligned) and EFAULT (outside user space; for a shared futex, a page
 * that is not mapped, not readable, or anonymous and read-only). Raw syscall() so that
 * the EFAULT cases reach the kernel; every wait has a timeout, so a wrong answer shows
 * as ETIMEDOUT instead of hanging. */
#include "common.h"

#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

static long futex(void *addr, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, addr, op, val, timeout, NULL, 0);
}

int main(void)
{
    const struct timespec short_wait = {0, 1000000}; /* 1 ms */
    long page = sysconf(_SC_PAGESIZE);

    char *ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *gone = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *rw = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ro == MAP_FAILED || none == MAP_FAILED || gone == MAP_FAILED || (void *)rw == MAP_FAILED) {
        printf("mmap: %s FAIL\n", errname(errno));
        return 2;
    }
    munmap(gone, page);
    void *kernel = (void *)0xffff880000000000ULL;

    /* FUTEX_WAKE: only the key is checked. */
    expect_err("wake_unmapped_shared", futex(gone, FUTEX_WAKE, 1, NULL), EFAULT);
    expect_ok("wake_unmapped_private", futex(gone, FUTEX_WAKE_PRIVATE, 1, NULL));
    expect_err("wake_kernel_shared", futex(kernel, FUTEX_WAKE, 1, NULL), EFAULT);
    expect_err("wake_kernel_private", futex(kernel, FUTEX_WAKE_PRIVATE, 1, NULL), EFAULT);
    expect_err("wake_misaligned", futex(ro + 1, FUTEX_WAKE, 1, NULL), EINVAL);
    expect_err("wake_prot_none_shared", futex(none, FUTEX_WAKE, 1, NULL), EFAULT);
    expect_err("wake_readonly_shared", futex(ro, FUTEX_WAKE, 1, NULL), EFAULT);
    expect_ok("wake_readonly_private", futex(ro, FUTEX_WAKE_PRIVATE, 1, NULL));
    checkf("wake_writable", 1, "%ld", futex(rw, FUTEX_WAKE, 1, NULL));

    /* FUTEX_WAIT on an untouched read-only page. */
    expect_err("wait_readonly_shared", futex(ro, FUTEX_WAIT, 0, &short_wait), EFAULT);
    expect_err("wait_readonly_private", futex(ro, FUTEX_WAIT_PRIVATE, 0, &short_wait), ETIMEDOUT);
    expect_err("wait_readonly_private_changed", futex(ro, FUTEX_WAIT_PRIVATE, 1, &short_wait), EAGAIN);

    /* FUTEX_WAIT elsewhere. */
    expect_err("wait_unmapped_shared", futex(gone, FUTEX_WAIT, 0, &short_wait), EFAULT);
    expect_err("wait_unmapped_private", futex(gone, FUTEX_WAIT_PRIVATE, 0, &short_wait), EFAULT);
    expect_err("wait_prot_none_private", futex(none, FUTEX_WAIT_PRIVATE, 0, &short_wait), EFAULT);
    expect_err("wait_kernel", futex(kernel, FUTEX_WAIT, 0, &short_wait), EFAULT);
    expect_err("wait_misaligned", futex((char *)rw + 2, FUTEX_WAIT, 0, &short_wait), EINVAL);
    expect_err("wait_bad_timeout", futex(rw, FUTEX_WAIT, 0, (void *)gone), EFAULT);
    const struct timespec bad = {0, 1000000000};
    expect_err("wait_invalid_timeout", futex(rw, FUTEX_WAIT, 0, &bad), EINVAL);
    *rw = 7;
    expect_err("wait_changed", futex(rw, FUTEX_WAIT, 6, &short_wait), EAGAIN);
    expect_err("wait_times_out", futex(rw, FUTEX_WAIT, 7, &short_wait), ETIMEDOUT);
    expect_err("wait_private_times_out", futex(rw, FUTEX_WAIT_PRIVATE, 7, &short_wait), ETIMEDOUT);
    return finish();
}
