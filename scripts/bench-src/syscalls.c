/* Syscall round-trip micro-benchmark for scripts/measure-syscalls.
 *
 *   syscalls [ITERATIONS [CASE...]]   (default 200000 iterations, every case)
 *
 * Prints one line per case: "<case> <ns per op> <iterations>". Every case calls the
 * kernel through syscall(2) so that no vDSO or libc cache hides the round trip, except
 * clock_gettime_libc, which is what programs really call (a vDSO read natively). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fd;

static void op_getpid(void) { syscall(SYS_getpid); }

static void op_clock_gettime_raw(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
}

static void op_clock_gettime_libc(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
}

static void op_fstat(void)
{
    struct stat st;
    syscall(SYS_fstat, fd, &st);
}

static void op_lseek(void) { syscall(SYS_lseek, fd, 0L, SEEK_CUR); }

static const struct {
    const char *name;
    void (*op)(void);
} cases[] = {
    {"getpid", op_getpid},
    {"clock_gettime_raw", op_clock_gettime_raw},
    {"clock_gettime_libc", op_clock_gettime_libc},
    {"fstat_file", op_fstat},
    {"lseek_file", op_lseek},
};

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    if (iters <= 0) {
        fprintf(stderr, "usage: %s [ITERATIONS [CASE...]]\n", argv[0]);
        return 2;
    }
    /* A regular file the benchmark itself can always open. */
    fd = open(argv[0], O_RDONLY);
    if (fd < 0) {
        perror(argv[0]);
        return 1;
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (argc > 2) { /* only the cases named on the command line */
            int wanted = 0;
            for (int a = 2; a < argc; a++)
                wanted |= strcmp(argv[a], cases[c].name) == 0;
            if (!wanted)
                continue;
        }
        for (long i = 0; i < iters / 100; i++) /* warm up */
            cases[c].op();
        long long t0 = now_ns();
        for (long i = 0; i < iters; i++)
            cases[c].op();
        long long t1 = now_ns();
        printf("%s %.1f %ld\n", cases[c].name, (double)(t1 - t0) / iters, iters);
        fflush(stdout);
    }
    close(fd);
    return 0;
}
