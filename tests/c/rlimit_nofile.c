/* RLIMIT_NOFILE reads as the host's (getrlimit, prlimit, /proc/self/limits) and is
 * enforced at exactly the value the program sees: dup2/dup3/F_DUPFD up to soft - 1 work,
 * soft itself gives EBADF/EINVAL, open gives EMFILE when the table is full. Then a program
 * that dup2s onto every number below its limit (where linuxrun keeps its own descriptors
 * too when the host leaves no room above the limit) leaves linuxrun working: lazily read
 * file pages, a fork, a thread, /proc/self/fd. Only facts that hold for any limit are
 * printed: the limits (both runs inherit the same), numbers relative to them, no counts. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static struct rlimit lim;

/* The "Max open files" line of /proc/self/limits names the same soft and hard limits. */
static void proc_limits_line(void)
{
    FILE *f = fopen("/proc/self/limits", "r");
    char line[256], want[128];
    int found = 0;
    snprintf(want, sizeof want, "Max open files            %-20lu %-20lu files", (unsigned long)lim.rlim_cur,
             (unsigned long)lim.rlim_max);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0)
            found = strncmp(line, want, strlen(want)) == 0;
    if (f)
        fclose(f);
    check("proc_limits_line", found);
}

static void limits(void)
{
    struct rlimit p;
    /* The values themselves: both runs inherit the same limits, which linuxrun must pass
     * on unchanged. */
    int r = getrlimit(RLIMIT_NOFILE, &lim);
    checkf("getrlimit", r == 0, "%lu %lu", (unsigned long)lim.rlim_cur, (unsigned long)lim.rlim_max);
    check("prlimit_same", prlimit(0, RLIMIT_NOFILE, NULL, &p) == 0 && p.rlim_cur == lim.rlim_cur &&
                              p.rlim_max == lim.rlim_max);
    check("getdtablesize", getdtablesize() == (int)lim.rlim_cur);
    check("sysconf_open_max", sysconf(_SC_OPEN_MAX) == (long)lim.rlim_cur);
    proc_limits_line();
}

static void close_from(int first)
{
    syscall(SYS_close_range, first, ~0U, 0);
}

/* Whether /proc/self/fd lists `fd`. */
static int listed(int fd)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= atoi(e->d_name) == fd && e->d_name[0] != '.';
    if (d)
        closedir(d);
    return found;
}

static void dup_near_the_limit(void)
{
    int soft = (int)lim.rlim_cur;
    int top = soft - 1;
    int r = dup2(0, top);
    checkf("dup2_top", r == top, "%s", r == top ? "soft-1" : errname(errno));
    check("top_listed", listed(top));
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", top);
    check("top_readlink", readlink(path, target, sizeof target) > 0);
    expect_ok("close_top", close(top));
    expect_err("dup2_soft", dup2(0, soft), EBADF);
    expect_err("dup3_soft", dup3(0, soft, O_CLOEXEC), EBADF);
    expect_err("fdupfd_soft", fcntl(0, F_DUPFD, soft), EINVAL);
    expect_err("fdupfd_cloexec_soft", fcntl(0, F_DUPFD_CLOEXEC, soft), EINVAL);
    int a = fcntl(0, F_DUPFD, soft - 2);
    checkf("fdupfd_near", a == soft - 2, "soft-%d", soft - a);
    int b = fcntl(0, F_DUPFD_CLOEXEC, soft - 2);
    checkf("fdupfd_next", b == soft - 1, "soft-%d", soft - b);
    expect_err("fdupfd_full_top", fcntl(0, F_DUPFD, soft - 2), EMFILE);
    close(a);
    close(b);
    /* A few numbers high in the range, one at a time. */
    int ok = 1;
    for (int back = 2; back <= 64 && back < soft - 3; back *= 2) {
        ok &= dup2(1, soft - back) == soft - back && fcntl(soft - back, F_GETFD) == 0;
        close(soft - back);
    }
    check("dup2_high_numbers", ok);
    expect_err("closed_again", fcntl(soft - 2, F_GETFD), EBADF);
}

/* Open until the table is full: EMFILE, and the number freed is the one the next open
 * gets. (Not the count: where the host leaves no room above the limit, linuxrun's own
 * descriptors take a few of the numbers; see docs/design-notes.md.) */
static void open_until_emfile(void)
{
    int last = -1, fd, err;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0)
        last = fd;
    err = errno;
    checkf("open_until_full", err == EMFILE, "%s", errname(err));
    expect_err("pipe_when_full", pipe((int[2]){0, 0}), EMFILE);
    close(last);
    checkf("reopen_lowest_free", open("/dev/null", O_RDONLY) == last, "%s", "");
    close_from(3);
    checkf("empty_again", open("/dev/null", O_RDONLY) == 3, "%s", "");
    close(3);
}

static void *thread_main(void *arg)
{
    return arg;
}

/* dup2 onto every number of the top 1024 below the limit (where linuxrun keeps its own
 * descriptors when the host leaves no room above the limit: it moves them away, or says
 * EBUSY for KVM's), so only that it survives is checked. */
static void hammer(int with)
{
    int soft = (int)lim.rlim_cur;
    for (int fd = soft > 1027 ? soft - 1024 : 3; fd < soft; fd++)
        dup2(with, fd);
    close_from(3);
}

static void dup2_everywhere(void)
{
    hammer(0);
    check("hammer_done", 1);
    /* A file mapping's pages, read lazily through linuxrun's copy of the file. */
    const char *dir = make_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    checkf("open_after", fd == 3, "%s", "");
    char page[8192];
    memset(page, 'x', sizeof page);
    check("write_file", write(fd, page, sizeof page) == (ssize_t)sizeof page);
    char *m = mmap(NULL, sizeof page, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    check("mapped_after", m != MAP_FAILED && m[0] == 'x' && m[4096] == 'x');
    /* Hammer again while the mapping holds the file, then read a page not yet read. */
    char *m2 = mmap(NULL, sizeof page, PROT_READ, MAP_PRIVATE, open(path, O_RDONLY), 0);
    close(3);
    hammer(1);
    check("mapped_pages_after_hammer", m2 != MAP_FAILED && m2[4096] == 'x' && m2[0] == 'x');
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int status = 0;
    check("fork_after", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 7);
    pthread_t t;
    void *ret = NULL;
    check("thread_after", pthread_create(&t, NULL, thread_main, (void *)42) == 0 && pthread_join(t, &ret) == 0 &&
                              ret == (void *)42);
    check("fds_listed_after", listed(1) && !listed(5));
    rm_tmpdir();
}

/* A program that raises its soft limit (where the hard one allows) names the new numbers:
 * dup2 there works, /proc/self/fd lists it, close_range closes it. Then the limit goes
 * back. */
static void raised_soft_limit(void)
{
    struct rlimit up = lim;
    if (lim.rlim_max > lim.rlim_cur)
        up.rlim_cur = lim.rlim_max - lim.rlim_cur > 2048 ? lim.rlim_cur + 2048 : lim.rlim_max;
    check("raise_soft", setrlimit(RLIMIT_NOFILE, &up) == 0);
    int top = (int)up.rlim_cur - 1;
    check("raised_dup2_top", dup2(0, top) == top && listed(top));
    close_from(3);
    check("raised_closed", !listed(top) && fcntl(top, F_GETFD) == -1);
    check("lower_again", setrlimit(RLIMIT_NOFILE, &lim) == 0);
}

int main(void)
{
    limits();
    dup_near_the_limit();
    open_until_emfile();
    dup2_everywhere();
    raised_soft_limit();
    struct rlimit again;
    getrlimit(RLIMIT_NOFILE, &again);
    check("limits_unchanged", again.rlim_cur == lim.rlim_cur && again.rlim_max == lim.rlim_max);
    return finish();
}
