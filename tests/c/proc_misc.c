/* memfd_create and file seals, getcpu, the mlock family, personality, and the
 * sched_getparam/sched_getscheduler pair. */
#include "common.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <sys/utsname.h>

/* Linux 6.3+ memfd flags (older glibc headers lack them). */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

static void test_memfd(void)
{
    int fd = memfd_create("linuxrun-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    check("memfd_create", fd >= 0);
    check("memfd_cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
    checkf("memfd_rdwr", 1, "%d", fcntl(fd, F_GETFL) & O_ACCMODE);
    struct stat st;
    check("memfd_fstat", fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
    checkf("memfd_write", 1, "%ld", (long)write(fd, "hello memfd", 11));
    char buf[32] = {0};
    checkf("memfd_pread", 1, "%ld %s", (long)pread(fd, buf, sizeof buf - 1, 0), buf);
    check("memfd_ftruncate", ftruncate(fd, 4096) == 0 && fstat(fd, &st) == 0 && st.st_size == 4096);
    char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    check("memfd_mmap", m != MAP_FAILED && memcmp(m, "hello", 5) == 0);
    if (m != MAP_FAILED)
        munmap(m, 4096);

    checkf("seals_initial", 1, "%#x", fcntl(fd, F_GET_SEALS));
    check("seal_grow", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) == 0);
    checkf("seals_after_add", 1, "%#x", fcntl(fd, F_GET_SEALS));
    expect_err("sealed_no_grow", ftruncate(fd, 8192), EPERM);
    check("seal_seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) == 0);
    expect_err("sealed_no_more_seals", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
    close(fd);

    int plain = memfd_create("no-sealing", 0);
    check("memfd_no_cloexec", plain >= 0 && fcntl(plain, F_GETFD) == 0);
    checkf("seals_without_allow_sealing", 1, "%#x", fcntl(plain, F_GET_SEALS));
    expect_err("add_seal_without_allow_sealing", fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE), EPERM);
    close(plain);

    char name[251];
    memset(name, 'n', sizeof name);
    name[249] = 0;
    int longest = memfd_create(name, 0);
    check("memfd_name_249", longest >= 0);
    close(longest);
    name[249] = 'n';
    name[250] = 0;
    expect_err("memfd_name_250", memfd_create(name, 0), EINVAL);
    expect_err("memfd_bad_flags", memfd_create("x", 0x100), EINVAL);
    expect_err("memfd_exec_and_noexec", memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL), EINVAL);
    expect_err("memfd_name_efault", memfd_create((const char *)8, 0), EFAULT);
    expect_err("memfd_flags_before_name", memfd_create((const char *)8, 0x100), EINVAL);

    /* Seals on a file that is not a memfd: EINVAL. */
    int f = open("/proc/self/exe", O_RDONLY);
    if (f < 0)
        f = open("/dev/null", O_RDONLY);
    expect_err("get_seals_not_memfd", fcntl(f, F_GET_SEALS), EINVAL);
    close(f);
}

static void test_getcpu(void)
{
    unsigned cpu = 12345, node = 12345;
    long n = sysconf(_SC_NPROCESSORS_CONF);
    check("getcpu", syscall(SYS_getcpu, &cpu, &node, NULL) == 0);
    checkf("getcpu_values", cpu < (unsigned)n, "node %u", node);
    check("getcpu_null_pointers", syscall(SYS_getcpu, NULL, NULL, NULL) == 0);
    check("getcpu_cpu_only", syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 && cpu < (unsigned)n);
    expect_err("getcpu_efault_cpu", syscall(SYS_getcpu, (void *)8, &node, NULL), EFAULT);
    node = 12345;
    expect_err("getcpu_efault_node", syscall(SYS_getcpu, &cpu, (void *)8, NULL), EFAULT);
    check("getcpu_glibc", sched_getcpu() >= 0);
}

static void test_mlock(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("mlock", mlock(p, 2 * page) == 0);
    check("mlock_unaligned", mlock(p + 10, page) == 0);
    check("munlock", munlock(p, 2 * page) == 0);
    check("mlock_zero_len", mlock(p, 0) == 0);
    check("mlock2", syscall(SYS_mlock2, p, page, MLOCK_ONFAULT) == 0);
    expect_err("mlock2_bad_flags", syscall(SYS_mlock2, p, page, 2), EINVAL);
    munlock(p, 4 * page);
    /* A hole in the range: ENOMEM. */
    munmap(p + page, page);
    expect_err("mlock_hole", mlock(p, 3 * page), ENOMEM);
    expect_err("munlock_hole", munlock(p, 3 * page), ENOMEM);
    check("mlock_before_hole", mlock(p, page) == 0 && munlock(p, page) == 0);
    expect_err("mlock_unmapped", mlock((void *)0x10000, page), ENOMEM);
    expect_err("mlock_wraps", mlock((void *)(uintptr_t)0x1000, (size_t)-0x1000), EINVAL);
    check("mlock_size_max_is_empty", mlock(p, (size_t)-1) == 0);
    munmap(p, 4 * page);

    expect_err("mlockall_zero", mlockall(0), EINVAL);
    expect_err("mlockall_onfault_alone", mlockall(MCL_ONFAULT), EINVAL);
    expect_err("mlockall_unknown", mlockall(8), EINVAL);
    check("munlockall", munlockall() == 0);

    /* RLIMIT_MEMLOCK 0: an unprivileged caller may not lock; root may. */
    struct rlimit old, zero = {0, 0};
    getrlimit(RLIMIT_MEMLOCK, &old);
    if (setrlimit(RLIMIT_MEMLOCK, &zero) == 0) {
        char *q = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        errno = 0;
        int r = mlock(q, page);
        int want_ok = geteuid() == 0;
        checkf("mlock_zero_limit", want_ok ? r == 0 : (r == -1 && errno == EPERM), "%s",
               r == 0 ? "0" : errname(errno));
        munlock(q, page);
        errno = 0;
        r = mlockall(MCL_FUTURE);
        checkf("mlockall_zero_limit", want_ok ? r == 0 : (r == -1 && errno == EPERM), "%s",
               r == 0 ? "0" : errname(errno));
        munlockall();
        munmap(q, page);
        /* Raising the limit back needs privilege when the hard limit was lowered too. */
        setrlimit(RLIMIT_MEMLOCK, &old);
    }
}

static void test_personality(void)
{
    int cur = personality(0xffffffff);
    checkf("personality_query", 1, "%#x", cur);
    checkf("personality_set_linux32", 1, "%#x", personality(PER_LINUX32));
    struct utsname u;
    uname(&u);
    checkf("uname_linux32", 1, "%s", u.machine);
    checkf("personality_set_addr_no_randomize", 1, "%#x", personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    uname(&u);
    checkf("uname_back", 1, "%s", u.machine);
    checkf("personality_unknown_stored", 1, "%#x", personality(0x12345));
    checkf("personality_after_unknown", 1, "%#x", personality(0xffffffff));
    checkf("personality_restore", 1, "%#x", personality(cur));
    checkf("personality_final", 1, "%#x", personality(0xffffffff));
}

static void test_sched(void)
{
    struct sched_param sp = {.sched_priority = 99};
    check("sched_getparam", sched_getparam(0, &sp) == 0 && sp.sched_priority == 0);
    checkf("sched_getscheduler", 1, "%d", sched_getscheduler(0));
    expect_err("sched_getparam_null", sched_getparam(0, NULL), EINVAL);
    expect_err("sched_getparam_negative_pid", sched_getparam(-1, &sp), EINVAL);
    expect_err("sched_getscheduler_negative_pid", sched_getscheduler(-1), EINVAL);
}

int main(void)
{
    test_memfd();
    test_getcpu();
    test_mlock();
    test_personality();
    test_sched();
    return finish();
}
