/* open("/proc/self/fd/N") of a memfd: O_TRUNC truncates it, as Linux's open of the memfd's
 * file does (a memfd has no path the host could open again). Without O_TRUNC the contents
 * stay. */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

static long size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long)st.st_size : -1;
}

int main(void)
{
    int m = memfd_create("reopen", 0);
    check("memfd_create", m >= 0);
    check("write", write(m, "hello", 5) == 5);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);

    int keep = open(path, O_RDWR);
    check("reopen", keep >= 0);
    printf("reopen_size: %ld\n", size_of(m));
    char buf[8] = {0};
    check("reopen_reads_contents", pread(keep, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0);

    int t = open(path, O_RDWR | O_TRUNC);
    check("reopen_trunc", t >= 0);
    printf("reopen_trunc_size: %ld %ld\n", size_of(m), size_of(t));
    check("write_after_trunc", pwrite(t, "ab", 2, 0) == 2);
    printf("size_after_write: %ld\n", size_of(m));

    int w = open(path, O_WRONLY | O_TRUNC);
    check("reopen_wronly_trunc", w >= 0);
    printf("reopen_wronly_trunc_size: %ld\n", size_of(m));
    close(w);
    close(t);
    close(keep);
    close(m);
    return finish();
}
