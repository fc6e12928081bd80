/* Clocks and sleeps. Only relations are checked (never printed values); the one
 * timed assertion is inherent: sleeping 50 ms must advance MONOTONIC by >= 50 ms. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <sys/resource.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void)
{
    struct timespec rt, mono, t2;
    check("clock_gettime_realtime", clock_gettime(CLOCK_REALTIME, &rt) == 0);
    time_t now = time(NULL);
    check("realtime_near_time", llabs((long long)rt.tv_sec - (long long)now) <= 2);
    check("realtime_after_2020", rt.tv_sec > 1577836800);
    check("realtime_nsec_range", rt.tv_nsec >= 0 && rt.tv_nsec < 1000000000);
    struct timeval tv;
    check("gettimeofday", gettimeofday(&tv, NULL) == 0);
    check("gettimeofday_near_realtime", llabs((long long)tv.tv_sec - (long long)rt.tv_sec) <= 2);
    check("gettimeofday_usec_range", tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    /* Raw syscalls too, not only the vDSO paths glibc prefers. */
    struct timespec raw;
    check("raw_clock_gettime", syscall(SYS_clock_gettime, CLOCK_REALTIME, &raw) == 0 &&
                               llabs((long long)raw.tv_sec - (long long)rt.tv_sec) <= 2);
    time_t traw = 0;
    check("raw_time", syscall(SYS_time, &traw) >= 0 && llabs((long long)traw - (long long)now) <= 2);

    /* MONOTONIC never goes backwards across 1000 reads. */
    check("clock_gettime_monotonic", clock_gettime(CLOCK_MONOTONIC, &mono) == 0);
    long long prev = ns(mono);
    int monotone = 1;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t2);
        monotone &= ns(t2) >= prev;
        prev = ns(t2);
    }
    check("monotonic_nondecreasing_1000", monotone);

    /* Other clocks exist and behave. */
    struct timespec t;
    check("clock_boottime", clock_gettime(CLOCK_BOOTTIME, &t) == 0 && ns(t) >= ns(mono) - 1000000000LL);
    check("clock_monotonic_raw", clock_gettime(CLOCK_MONOTONIC_RAW, &t) == 0);
    check("clock_monotonic_coarse", clock_gettime(CLOCK_MONOTONIC_COARSE, &t) == 0);
    check("clock_realtime_coarse", clock_gettime(CLOCK_REALTIME_COARSE, &t) == 0 &&
                                   llabs((long long)t.tv_sec - (long long)rt.tv_sec) <= 2);
    check("clock_process_cputime", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) == 0);
    check("clock_thread_cputime", clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0);
    check("clock_getres_monotonic", clock_getres(CLOCK_MONOTONIC, &t) == 0 && t.tv_sec == 0 && t.tv_nsec > 0);
    expect_err("clock_gettime_bad_clock", clock_gettime((clockid_t)1000, &t), EINVAL);
    expect_err("clock_gettime_efault", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1), EFAULT);

    /* nanosleep 50 ms advances MONOTONIC by at least 50 ms. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec req = {0, 50 * 1000000}, rem = {9, 9};
    check("nanosleep_50ms", nanosleep(&req, &rem) == 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    check("nanosleep_advanced_50ms", ns(b) - ns(a) >= 50 * 1000000LL);

    /* clock_nanosleep relative, and absolute on MONOTONIC. */
    clock_gettime(CLOCK_MONOTONIC, &a);
    req.tv_nsec = 20 * 1000000;
    check("clock_nanosleep_rel", clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL) == 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    check("clock_nanosleep_rel_advanced_20ms", ns(b) - ns(a) >= 20 * 1000000LL);
    struct timespec until = b;
    until.tv_nsec += 30 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    check("clock_nanosleep_abs", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t);
    check("clock_nanosleep_abs_reached", ns(t) >= ns(until));
    /* Absolute time in the past returns at once. */
    check("clock_nanosleep_abs_past", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &a, NULL) == 0);
    struct timespec bad = {0, 1000000000};
    expect_err("nanosleep_bad_nsec", nanosleep(&bad, NULL), EINVAL);
    struct timespec neg = {-1, 0};
    expect_err("nanosleep_negative", nanosleep(&neg, NULL), EINVAL);
    /* clock_nanosleep returns the error number instead of setting errno. */
    int cr = clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL);
    checkf("clock_nanosleep_bad_nsec", cr == EINVAL, "%s", errname(cr));

    /* CLOCK_REALTIME agrees with the host file system's clock: the mtime of a
     * freshly created file is within 2 s of our realtime. */
    char path[] = "/tmp/lrtest-time-XXXXXX";
    int fd = mkstemp(path);
    check("mkstemp", fd >= 0);
    write(fd, "x", 1);
    struct stat st;
    fstat(fd, &st);
    clock_gettime(CLOCK_REALTIME, &rt);
    long long diff = ns(rt) - ns(st.st_mtim);
    check("realtime_matches_file_mtime", llabs(diff) <= 2000000000LL);
    close(fd);
    unlink(path);

    /* times() and getrusage don't fail. */
    check("getrusage", ({ struct rusage ru; getrusage(RUSAGE_SELF, &ru) == 0; }));
    return finish();
}
