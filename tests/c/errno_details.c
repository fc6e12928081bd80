/* Errno details Linux programs (and their test suites) notice: getcwd's ERANGE before
 * EFAULT, TCGETA on a terminal and on other files, arch_prctl's CPUID controls, the *at
 * calls ignoring dirfd for an absolute path (even a dirfd that is no descriptor), and
 * fcntl(F_NOTIFY) on directories and other files. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <asm/prctl.h>
#include <linux/stat.h>

extern char **environ;

static void getcwd_checks(void)
{
    char buf[4096];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    checkf("getcwd_len", n > 1, "%s", n > 1 ? "ok" : errname(errno));
    /* Too small: ERANGE, whatever the buffer, before anything is written. */
    expect_err("getcwd_small", syscall(SYS_getcwd, buf, 1), ERANGE);
    expect_err("getcwd_one_short", syscall(SYS_getcwd, buf, n - 1), ERANGE);
    expect_err("getcwd_zero", syscall(SYS_getcwd, buf, 0), ERANGE);
    expect_err("getcwd_null_zero", syscall(SYS_getcwd, NULL, 0), ERANGE);
    expect_err("getcwd_badptr_small", syscall(SYS_getcwd, (char *)1, 1), ERANGE);
    /* Big enough but unwritable: EFAULT. */
    expect_err("getcwd_badptr_big", syscall(SYS_getcwd, (char *)1, sizeof buf), EFAULT);
    expect_err("getcwd_null_big", syscall(SYS_getcwd, NULL, sizeof buf), EFAULT);
    long m = syscall(SYS_getcwd, buf, n);
    checkf("getcwd_exact", m == n, "%s", m == n ? "ok" : errname(errno));
}

static void tcgeta_checks(void)
{
    int null = open("/dev/null", O_RDONLY);
    expect_err("tcgeta_devnull_badptr", ioctl(null, TCGETA, (void *)1), ENOTTY);
    struct termio tio;
    expect_err("tcgeta_devnull", ioctl(null, TCGETA, &tio), ENOTTY);
    expect_err("tcgeta_badfd", ioctl(999, TCGETA, &tio), EBADF);
    close(null);
    int pipefd[2];
    if (pipe(pipefd) == 0) {
        expect_err("tcgeta_pipe", ioctl(pipefd[0], TCGETA, &tio), ENOTTY);
        close(pipefd[0]);
        close(pipefd[1]);
    }

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0) {
        checkf("posix_openpt", 0, "%s", errname(errno));
        return;
    }
    expect_err("tcgeta_pty_badptr", ioctl(master, TCGETA, (void *)1), EFAULT);
    expect_err("tcgets_pty_badptr", ioctl(master, TCGETS, (void *)1), EFAULT);
    /* TCGETA is TCGETS in the old 16-bit struct termio, padding byte included. */
    unsigned char raw[sizeof(struct termio)];
    memset(raw, 0xa5, sizeof raw);
    expect_ok("tcgeta_pty", ioctl(master, TCGETA, raw));
    memcpy(&tio, raw, sizeof tio);
    struct termios tios;
    expect_ok("tcgets_pty", ioctl(master, TCGETS, &tios));
    check("tcgeta_flags_match",
          tio.c_iflag == (unsigned short)tios.c_iflag && tio.c_oflag == (unsigned short)tios.c_oflag &&
              tio.c_cflag == (unsigned short)tios.c_cflag && tio.c_lflag == (unsigned short)tios.c_lflag &&
              tio.c_line == tios.c_line && memcmp(tio.c_cc, tios.c_cc, sizeof tio.c_cc) == 0);
    checkf("tcgeta_size", 1, "%zu, last byte %#x", sizeof raw, raw[sizeof raw - 1]);
    close(master);
}

static void cpuid_checks(void)
{
    /* CPUID is on (1) for a fresh process. ARCH_SET_CPUID depends on the CPU (Linux says
     * ENODEV, either way, without CPUID faulting; linuxrun offers none), so it is not
     * compared here. */
    errno = 0;
    long r = syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0);
    checkf("arch_get_cpuid", r == 1, "%ld %s", r, r < 0 ? errname(errno) : "");
    expect_err("arch_prctl_unknown", syscall(SYS_arch_prctl, 0x1fff, 0), EINVAL);
}

/* Every *at call with an absolute path, once with dirfd -5 and once with 9999 (neither
 * is an open descriptor): Linux does not look at dirfd then. */
static void at_checks(const char *dir, int bad, const char *tag)
{
    char a[256], b[256], name[64];
#define P(var, leaf) snprintf(var, sizeof var, "%s/%s-%s", dir, leaf, tag)
#define N(what) (snprintf(name, sizeof name, "%s_%s", what, tag), name)
    P(a, "file");
    int fd = openat(bad, a, O_CREAT | O_WRONLY, 0644);
    checkf(N("openat_abs"), fd >= 0, "%s", fd >= 0 ? "ok" : errname(errno));
    if (fd >= 0)
        close(fd);
    P(b, "dir");
    expect_ok(N("mkdirat_abs"), mkdirat(bad, b, 0755));
    P(b, "link");
    expect_ok(N("symlinkat_abs"), symlinkat("file", bad, b));
    char target[64] = {0};
    expect_ok(N("readlinkat_abs"), readlinkat(bad, b, target, sizeof target - 1));
    struct stat st;
    expect_ok(N("fstatat_abs"), fstatat(bad, a, &st, 0));
    struct statx stx;
    expect_ok(N("statx_abs"), syscall(SYS_statx, bad, a, 0, STATX_BASIC_STATS, &stx));
    expect_ok(N("faccessat_abs"), faccessat(bad, a, R_OK, 0));
    expect_ok(N("fchmodat_abs"), fchmodat(bad, a, 0600, 0));
    expect_ok(N("fchownat_abs"), fchownat(bad, a, getuid(), getgid(), 0));
    expect_ok(N("utimensat_abs"), utimensat(bad, a, NULL, 0));
    P(b, "hard");
    expect_ok(N("linkat_abs"), linkat(bad, a, bad, b, 0));
    char c[256];
    P(c, "renamed");
    expect_ok(N("renameat_abs"), renameat(bad, b, bad, c));
    expect_ok(N("unlinkat_abs"), unlinkat(bad, c, 0));
    P(b, "dir");
    expect_ok(N("unlinkat_dir_abs"), unlinkat(bad, b, AT_REMOVEDIR));
    /* Relative paths do need the descriptor. */
    expect_err(N("openat_rel"), openat(bad, "x", O_RDONLY), EBADF);
    expect_err(N("mkdirat_rel"), mkdirat(bad, "x", 0755), EBADF);
    expect_err(N("fstatat_rel"), fstatat(bad, "x", &st, 0), EBADF);
    /* execveat of an absolute path runs it. */
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"true", NULL};
        syscall(SYS_execveat, bad, "/bin/true", argv, environ, 0);
        _exit(100 + errno);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    checkf(N("execveat_abs"), WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit %d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    pid = fork();
    if (pid == 0) {
        char *argv[] = {"true", NULL};
        syscall(SYS_execveat, bad, "true", argv, environ, 0);
        _exit(errno == EBADF ? 0 : 100 + errno);
    }
    waitpid(pid, &status, 0);
    checkf(N("execveat_rel_ebadf"), WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit %d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
#undef P
#undef N
}

static volatile sig_atomic_t g_sigio;
static void on_sigio(int sig)
{
    (void)sig;
    g_sigio++;
}

static void notify_checks(const char *dir)
{
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    expect_ok("f_notify_dir", fcntl(d, F_NOTIFY, DN_MODIFY | DN_MULTISHOT));
    expect_ok("f_notify_dir_clear", fcntl(d, F_NOTIFY, 0));
    close(d);
    char p[256];
    snprintf(p, sizeof p, "%s/file--5", dir);
    int f = open(p, O_RDONLY);
    expect_err("f_notify_file", fcntl(f, F_NOTIFY, DN_CREATE), ENOTDIR);
    expect_ok("f_notify_file_zero", fcntl(f, F_NOTIFY, 0));
    expect_ok("f_notify_file_multishot_only", fcntl(f, F_NOTIFY, DN_MULTISHOT));
    close(f);
    int o = open(dir, O_PATH);
    expect_err("f_notify_opath", fcntl(o, F_NOTIFY, DN_CREATE), EBADF);
    close(o);
    expect_err("f_notify_badfd", fcntl(999, F_NOTIFY, DN_CREATE), EBADF);

    /* A notification arrives as SIGIO, once (no DN_MULTISHOT). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigio;
    sigaction(SIGIO, &sa, NULL);
    char sub[256], made[300];
    snprintf(sub, sizeof sub, "%s/watched", dir);
    expect_ok("mkdir_watched", mkdir(sub, 0755));
    int w = open(sub, O_RDONLY | O_DIRECTORY);
    expect_ok("f_notify_create", fcntl(w, F_NOTIFY, DN_CREATE));
    snprintf(made, sizeof made, "%s/new1", sub);
    close(open(made, O_CREAT | O_WRONLY, 0644));
    for (int i = 0; i < 2000 && !g_sigio; i++)
        usleep(1000);
    checkf("f_notify_sigio", g_sigio == 1, "%d", (int)g_sigio);
    snprintf(made, sizeof made, "%s/new2", sub);
    close(open(made, O_CREAT | O_WRONLY, 0644));
    usleep(50000);
    checkf("f_notify_oneshot", g_sigio == 1, "%d", (int)g_sigio);
    close(w);
}

int main(void)
{
    const char *dir = make_tmpdir();
    getcwd_checks();
    tcgeta_checks();
    cpuid_checks();
    at_checks(dir, -5, "-5");
    at_checks(dir, 9999, "9999");
    notify_checks(dir);
    rm_tmpdir();
    return finish();
}
