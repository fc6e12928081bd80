/* Edges of the memory syscalls: lengths that wrap, the mapping count limit, and large
 * transfers through memory made of scattered pages. */
#include "common.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>

int main(void)
{
    long pg = 4096;
    /* brk of an absurd address leaves the break where it is (and the program alive). */
    long brk0 = syscall(SYS_brk, 0);
    check("brk_minus_one_refused", syscall(SYS_brk, -1L) == brk0);

    char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("mmap", p != MAP_FAILED);
    /* Lengths that would wrap around the address space. */
    expect_err("munmap_size_max", syscall(SYS_munmap, p, SIZE_MAX), EINVAL);
    expect_err("mprotect_size_max", syscall(SYS_mprotect, p, SIZE_MAX, PROT_READ), ENOMEM);
    expect_err("madvise_size_max", syscall(SYS_madvise, p, SIZE_MAX, MADV_DONTNEED), EINVAL);
    expect_err("mremap_huge", syscall(SYS_mremap, p, pg, (size_t)0 - (uintptr_t)p + 0x2000, 0), EINVAL);
    p[0] = 1;
    check("mapping_still_there", p[0] == 1);

    /* The number of mappings is bounded: splitting a region page by page ends in ENOMEM. */
    size_t n = 70000;
    char *r = mmap(NULL, n * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    check("big_reservation", r != MAP_FAILED);
    int err = 0;
    for (size_t i = 0; i < n; i += 2)
        if (mprotect(r + i * pg, pg, PROT_READ) != 0) {
            err = errno;
            break;
        }
    checkf("map_count_limit", err == ENOMEM, "%s", errname(err));
    munmap(r, n * pg);

    /* 8 MiB written and read through pages touched in reverse order (scattered frames). */
    size_t len = 8 << 20;
    char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t off = len; off > 0; off -= pg)
        b[off - pg] = (char)(off / pg);
    int zero = open("/dev/zero", O_RDONLY), null = open("/dev/null", O_WRONLY);
    checkf("write_8MiB_scattered", write(null, b, len) == (ssize_t)len, "%s", errname(errno));
    checkf("read_8MiB_scattered", read(zero, b, len) == (ssize_t)len, "%s", errname(errno));
    check("read_zeroed", b[0] == 0 && b[len - 1] == 0);
    return finish();
}
