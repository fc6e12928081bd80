/* Hundreds of MiB: malloc (mmap-backed chunks), touch every page, checksum; then
 * free and allocate again so memory returned to the kernel is reusable. */
#include "common.h"
#include <stdint.h>

int main(void)
{
    const size_t mib = 1 << 20;
    const size_t total = 300 * mib;

    /* One big block (glibc uses mmap for it). */
    unsigned char *big = malloc(total);
    check("malloc_300MiB", big != NULL);
    if (!big)
        return finish();
    for (size_t i = 0; i < total; i += 512)
        big[i] = (unsigned char)(i >> 9);
    uint64_t sum = 0;
    for (size_t i = 0; i < total; i += 512)
        sum += big[i];
    checkf("big_checksum", 1, "%llu", (unsigned long long)sum);
    /* Untouched bytes inside touched pages are still zero. */
    check("big_untouched_zero", big[1] == 0 && big[total - 1] == 0);
    free(big);

    /* Many medium blocks (a mix of brk-heap and mmap chunks), written fully. */
    enum { N = 64 };
    unsigned char *blocks[N];
    size_t sizes[N];
    uint64_t h = FNV_INIT;
    int all = 1;
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(i % 8 + 1) * 600 * 1024 + i * 17; /* 0.6..4.8 MiB */
        blocks[i] = malloc(sizes[i]);
        all &= blocks[i] != NULL;
        if (!blocks[i])
            continue;
        for (size_t j = 0; j < sizes[i]; j++)
            blocks[i][j] = (unsigned char)(j * 31 + i);
    }
    check("malloc_64_blocks", all);
    for (int i = 0; i < N; i++)
        if (blocks[i])
            h = fnv1a(blocks[i], sizes[i], h);
    checkf("blocks_checksum", 1, "%016llx", (unsigned long long)h);
    for (int i = 0; i < N; i += 2)
        free(blocks[i]);
    /* Reallocate the freed ones with realloc growth on the survivors. */
    int realloc_ok = 1;
    for (int i = 1; i < N; i += 2) {
        unsigned char *nb = realloc(blocks[i], sizes[i] * 2);
        realloc_ok &= nb != NULL && nb[0] == (unsigned char)i &&
                      nb[sizes[i] - 1] == (unsigned char)((sizes[i] - 1) * 31 + i);
        blocks[i] = nb;
    }
    check("realloc_grow_keeps_data", realloc_ok);
    for (int i = 1; i < N; i += 2)
        free(blocks[i]);

    /* Allocate 300 MiB again after freeing: must succeed and read as zero (calloc). */
    unsigned char *again = calloc(total, 1);
    check("calloc_300MiB_after_free", again != NULL);
    int zero = 1;
    for (size_t i = 0; again && i < total; i += 4096)
        zero &= again[i] == 0;
    check("calloc_zeroed", zero);
    free(again);
    return finish();
}
