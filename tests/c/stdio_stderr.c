/* Output paths: stdout and stderr interleaving via write(2), a large stdout payload
 * (pipe back-pressure), and writes of zero bytes. stderr is compared too. */
#include "common.h"
#include <sys/uio.h>

int main(void)
{
    /* Unbuffered writes so stdout/stderr content is deterministic per stream. */
    const char *a = "line to stdout\n";
    const char *b = "line to stderr\n";
    checkf("write_stdout", write(1, a, strlen(a)) == (ssize_t)strlen(a), "%zu", strlen(a));
    checkf("write_stderr", write(2, b, strlen(b)) == (ssize_t)strlen(b), "%zu", strlen(b));
    check("write_zero_bytes", write(1, "", 0) == 0);
    struct iovec iov[3] = {{"wri", 3}, {"tev", 3}, {"\n", 1}};
    check("writev_stdout", writev(1, iov, 3) == 7);

    /* 1 MiB in one write: the reader must see all of it, in order. */
    size_t n = 1 << 20;
    char *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (i % 64 == 63) ? '\n' : 'a' + (i * 7 + i / 64) % 26;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(1, buf + done, n - done);
        if (w <= 0)
            break;
        done += w;
    }
    checkf("big_write", done == n, "%zu", done);
    /* stdio buffering path, flushed at exit. */
    for (int i = 0; i < 1000; i++)
        printf("printf line %d\n", i);
    fprintf(stderr, "stderr via stdio: %d\n", 42);
    return finish();
}
