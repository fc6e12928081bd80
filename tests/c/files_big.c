/* Several MiB of file I/O: write 8 MiB in odd-sized chunks, read back with other
 * chunk sizes, pread at scattered offsets, and compare checksums. Exercises short
 * transfers and buffer boundaries in any forwarding layer. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define TOTAL (8u << 20)

static unsigned char byte_at(size_t i) { return (unsigned char)((i * 2654435761u) >> 13); }

static unsigned long long checksum_read(int fd, size_t chunk, size_t *total)
{
    unsigned char *buf = malloc(chunk);
    unsigned long long h = FNV_INIT;
    *total = 0;
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        ssize_t n = read(fd, buf, chunk);
        if (n <= 0)
            break;
        h = fnv1a(buf, n, h);
        *total += n;
    }
    free(buf);
    return h;
}

int main(void)
{
    make_tmpdir();
    chdir(g_tmpdir);
    unsigned char *data = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        data[i] = byte_at(i);
    unsigned long long want = fnv1a(data, TOTAL, FNV_INIT);
    printf("expected_checksum: %016llx\n", want);

    int fd = open("big.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
    check("open", fd >= 0);
    /* Odd chunk sizes cycling through primes around page/buffer sizes. */
    static const size_t chunks[] = {1, 7, 4093, 4097, 65521, 131071, 1000003, 333};
    size_t off = 0;
    int k = 0, short_writes = 0;
    while (off < TOTAL) {
        size_t len = chunks[k++ % 8];
        if (len > TOTAL - off)
            len = TOTAL - off;
        ssize_t w = write(fd, data + off, len);
        if (w <= 0)
            break;
        short_writes += (size_t)w != len;
        off += w;
    }
    checkf("written", off == TOTAL, "%zu", off);
    check("no_short_writes_to_file", short_writes == 0);
    struct stat st;
    fstat(fd, &st);
    checkf("size", st.st_size == TOTAL, "%lld", (long long)st.st_size);

    static const size_t rchunks[] = {1 << 20, 4096, 12345, TOTAL + 100};
    for (int i = 0; i < 4; i++) {
        size_t got;
        unsigned long long h = checksum_read(fd, rchunks[i], &got);
        char name[64];
        snprintf(name, sizeof name, "read_chunk_%zu", rchunks[i]);
        checkf(name, h == want && got == TOTAL, "%016llx", h);
    }

    /* pread at scattered offsets, including across the end of file. */
    unsigned char b[5000];
    int ok = 1;
    for (size_t o = 3; o < TOTAL; o += 777777) {
        ssize_t n = pread(fd, b, sizeof b, o);
        size_t exp = TOTAL - o < sizeof b ? TOTAL - o : sizeof b;
        ok &= n == (ssize_t)exp && !memcmp(b, data + o, exp);
    }
    check("pread_scattered", ok);
    ssize_t tail = pread(fd, b, sizeof b, TOTAL - 10);
    checkf("pread_short_at_eof", tail == 10, "%zd", tail);

    /* readv into many small buffers (more than one page of iovecs). */
    enum { NIOV = 1024 };
    static struct iovec iov[NIOV];
    static unsigned char small[NIOV][61];
    for (int i = 0; i < NIOV; i++) {
        iov[i].iov_base = small[i];
        iov[i].iov_len = 61;
    }
    lseek(fd, 1000, SEEK_SET);
    ssize_t rv = readv(fd, iov, NIOV);
    ok = rv == NIOV * 61;
    for (int i = 0; i < NIOV && ok; i++)
        ok &= !memcmp(small[i], data + 1000 + i * 61, 61);
    checkf("readv_1024_iovecs", ok, "%zd", rv);

    /* Overwrite the middle through a second descriptor, re-check through the first. */
    int fd2 = open("big.bin", O_WRONLY);
    memset(data + 3000000, 0xee, 100000);
    pwrite(fd2, data + 3000000, 100000, 3000000);
    close(fd2);
    size_t got;
    unsigned long long h2 = checksum_read(fd, 65536, &got);
    checkf("overwrite_visible", h2 == fnv1a(data, TOTAL, FNV_INIT), "%016llx", h2);
    close(fd);
    free(data);
    chdir("/");
    rm_tmpdir();
    return finish();
}
