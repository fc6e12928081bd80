/* The vDSO: announced by AT_SYSINFO_EHDR, mapped (with its vvar page below it) so mmap
 * cannot take its place, and serving clock_gettime, gettimeofday, time, clock_getres and
 * getcpu with the same clocks as the syscalls. Only relations are checked: reads through
 * libc (the vDSO when there is one) and raw syscalls must be ordered with each other. */
#include "common.h"
#include <elf.h>
#include <sched.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long raw_ns(clockid_t clock)
{
    struct timespec t;
    if (syscall(SYS_clock_gettime, clock, &t) != 0)
        return -1;
    return ns(t);
}

static long long libc_ns(clockid_t clock)
{
    struct timespec t;
    if (clock_gettime(clock, &t) != 0)
        return -1;
    return ns(t);
}

static void check_image(void)
{
    unsigned long base = getauxval(AT_SYSINFO_EHDR);
    check("at_sysinfo_ehdr_set", base != 0);
    if (!base)
        return;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    check("vdso_elf_magic", memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0);
    check("vdso_elf64_dyn_x86_64",
          eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_type == ET_DYN && eh->e_machine == EM_X86_64);
    int has_dynamic = 0;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        has_dynamic |= ph[i].p_type == PT_DYNAMIC;
    check("vdso_has_pt_dynamic", has_dynamic);
    /* The vDSO and the vvar page below it are mappings: mmap cannot replace them. */
    const int noreplace = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
    expect_err("mmap_over_vdso", mmap((void *)base, 4096, PROT_READ, noreplace, -1, 0), EEXIST);
    expect_err("mmap_over_vvar", mmap((void *)(base - 4096), 4096, PROT_READ, noreplace, -1, 0), EEXIST);
}

/* libc reads and syscall reads interleaved never go backwards. */
static void check_ordered(const char *name, clockid_t clock)
{
    int ordered = 1;
    long long prev = libc_ns(clock);
    for (int i = 0; i < 200 && ordered; i++) {
        long long raw = raw_ns(clock), lib = libc_ns(clock);
        ordered = prev <= raw && raw <= lib;
        prev = lib;
    }
    check(name, ordered && prev > 0);
}

/* The clock moves forward (a bounded number of reads; a stopped clock fails). */
static void check_advances(const char *name, clockid_t clock)
{
    long long first = libc_ns(clock), now = first;
    for (long i = 0; i < 100000000 && now == first; i++)
        now = libc_ns(clock);
    check(name, now > first);
}

static void check_clocks(void)
{
    check_ordered("realtime_vdso_syscall_ordered", CLOCK_REALTIME);
    check_ordered("monotonic_vdso_syscall_ordered", CLOCK_MONOTONIC);
    check_ordered("monotonic_raw_vdso_syscall_ordered", CLOCK_MONOTONIC_RAW);
    check_ordered("boottime_vdso_syscall_ordered", CLOCK_BOOTTIME);
    check_advances("realtime_advances", CLOCK_REALTIME);
    check_advances("monotonic_advances", CLOCK_MONOTONIC);

    struct timespec coarse;
    check("realtime_coarse", clock_gettime(CLOCK_REALTIME_COARSE, &coarse) == 0 &&
                             ns(coarse) <= libc_ns(CLOCK_REALTIME));
    check("monotonic_coarse", clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse) == 0 &&
                              ns(coarse) <= libc_ns(CLOCK_MONOTONIC));

    /* gettimeofday and time read CLOCK_REALTIME (time() may lag by a tick). */
    long long before = libc_ns(CLOCK_REALTIME);
    struct timeval tv;
    check("gettimeofday", gettimeofday(&tv, NULL) == 0);
    time_t t_arg = 0, t = time(&t_arg);
    long long after = libc_ns(CLOCK_REALTIME);
    long long tv_us = tv.tv_sec * 1000000LL + tv.tv_usec;
    check("gettimeofday_between_realtime_reads", before / 1000 <= tv_us && tv_us <= after / 1000);
    check("gettimeofday_usec_range", tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    check("time_between_realtime_reads", t >= before / 1000000000 - 1 && t <= after / 1000000000);
    check("time_stores_its_result", t_arg == t);
    check("time_null", time(NULL) >= t);
    struct timezone tz;
    check("gettimeofday_tz", gettimeofday(&tv, &tz) == 0);
    check("gettimeofday_null_null", gettimeofday(NULL, NULL) == 0);

    /* What the vDSO does not compute is still served (by the syscall it falls back to). */
    struct timespec ts;
    check("process_cputime", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    check("thread_cputime", clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0);
    expect_err("clock_gettime_invalid", clock_gettime((clockid_t)1000, &ts), EINVAL);
    expect_err("clock_gettime_negative_invalid", clock_gettime((clockid_t)-1000, &ts), EINVAL);
}

static void check_getres(void)
{
    const clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
                                CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID};
    int same = 1;
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec lib = {-1, -1}, raw = {-2, -2};
        same &= clock_getres(clocks[i], &lib) == 0 && syscall(SYS_clock_getres, clocks[i], &raw) == 0 &&
                lib.tv_sec == raw.tv_sec && lib.tv_nsec == raw.tv_nsec;
    }
    check("clock_getres_matches_syscall", same);
    check("clock_getres_null", clock_getres(CLOCK_MONOTONIC, NULL) == 0);
    struct timespec ts;
    expect_err("clock_getres_invalid", clock_getres((clockid_t)1000, &ts), EINVAL);
}

static void check_cpu(void)
{
    int cpu = sched_getcpu();
    check("sched_getcpu", cpu >= 0 && cpu < CPU_SETSIZE);
    unsigned c = ~0u, node = ~0u;
    check("getcpu", getcpu(&c, &node) == 0 && c < CPU_SETSIZE && node < 1024);
    check("getcpu_null", getcpu(NULL, NULL) == 0);
    unsigned raw = ~0u;
    check("raw_getcpu", syscall(SYS_getcpu, &raw, NULL, NULL) == 0 && raw < CPU_SETSIZE);
}

int main(void)
{
    check_image();
    check_clocks();
    check_getres();
    check_cpu();
    return finish();
}
