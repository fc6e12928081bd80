/* /proc/sys as programs read it: the entries of /proc/sys, /proc/sys/kernel, /proc/sys/vm
 * and /proc/sys/kernel/random (names, types, modes, whether they open for reading), the
 * contents of files whose values do not change while the test runs (domainname,
 * nr_hugepages...), a subdirectory (kernel/keys), access() as sysctl decides it (root
 * cannot write a read-only sysctl), writing a value back (domainname, vm/nr_hugepages) and
 * a value vm/nr_hugepages refuses, and what does not exist; then
 * making and removing names in /proc, which Linux refuses by what the name is (EEXIST,
 * ENOENT, ENOTDIR, EACCES), except through a link out of /proc (/proc/self/cwd/...). */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char g_buf[8192];

/* The whole file into g_buf (NUL-terminated); its length, or -errno. */
static long slurp(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, g_buf + got, sizeof g_buf - 1 - got);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    g_buf[got] = 0;
    return (long)got;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each entry of `dir`: name, d_type, stat type and mode, and whether it opens read-only. */
static void list(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        checkf(dir, 0, "opendir %s", errname(errno));
        return;
    }
    char *names[512];
    unsigned char types[512];
    int n = 0, dots = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 512) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
            dots++;
            continue;
        }
        names[n] = strdup(de->d_name);
        types[n] = de->d_type;
        n++;
    }
    closedir(d);
    /* Linux lists sysctl directories in name order. */
    int sorted = 1;
    for (int i = 1; i < n; i++)
        sorted &= strcmp(names[i - 1], names[i]) < 0;
    checkf(dir, dots == 2 && n > 0, "%d entries, %s, dots %d", n, sorted ? "sorted" : "unsorted", dots);
    qsort(names, n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) != 0) {
            checkf(path, 0, "lstat %s", errname(errno));
            continue;
        }
        const char *how = "-";
        if (S_ISREG(st.st_mode)) {
            int fd = open(path, O_RDONLY);
            how = fd >= 0 ? "opens" : errname(errno);
            if (fd >= 0)
                close(fd);
        }
        printf("%s: %s d_type %d mode %o uid %d %s\n", path, S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other",
               types[i], st.st_mode & 07777, (int)st.st_uid, how);
        free(names[i]);
    }
}

static void show(const char *path)
{
    long n = slurp(path);
    if (n < 0)
        checkf(path, 0, "%s", errname((int)-n));
    else
        checkf(path, 1, "%ld bytes: %s", n, g_buf);
}

static void make_and_remove(void)
{
    /* Existing names: EEXIST for mkdir, mknod and O_CREAT|O_EXCL, whoever asks. */
    static const char *existing[] = {"/proc/sys/kernel", "/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
                                     "/proc/sys/kernel/keys", "/proc/self", "/proc/cpuinfo", "/proc/self/exe"};
    char name[128];
    for (size_t i = 0; i < sizeof existing / sizeof existing[0]; i++) {
        snprintf(name, sizeof name, "mkdir %s", existing[i]);
        expect_err(name, mkdir(existing[i], 0755), EEXIST);
        snprintf(name, sizeof name, "mknod %s", existing[i]);
        expect_err(name, mknod(existing[i], S_IFIFO | 0644, 0), EEXIST);
        snprintf(name, sizeof name, "creat_excl %s", existing[i]);
        expect_err(name, open(existing[i], O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    }
    /* Missing names: ENOENT, also for open with O_CREAT; through a file: ENOTDIR. */
    static const char *missing[] = {"/proc/x", "/proc/sys/x", "/proc/sys/kernel/x", "/proc/sys/kernel/x/y",
                                    "/proc/self/x", "/proc/sys/kernel/random/x"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        snprintf(name, sizeof name, "mkdir %s", missing[i]);
        expect_err(name, mkdir(missing[i], 0755), ENOENT);
        snprintf(name, sizeof name, "mknod %s", missing[i]);
        expect_err(name, mknod(missing[i], S_IFIFO | 0644, 0), ENOENT);
        snprintf(name, sizeof name, "creat %s", missing[i]);
        expect_err(name, open(missing[i], O_CREAT | O_WRONLY, 0644), ENOENT);
        snprintf(name, sizeof name, "unlink %s", missing[i]);
        expect_err(name, unlink(missing[i]), ENOENT);
        snprintf(name, sizeof name, "rmdir %s", missing[i]);
        expect_err(name, rmdir(missing[i]), ENOENT);
    }
    static const char *through_file[] = {"/proc/cpuinfo/x", "/proc/sys/kernel/hostname/x",
                                         "/proc/sys/kernel/domainname/x"};
    for (size_t i = 0; i < sizeof through_file / sizeof through_file[0]; i++) {
        snprintf(name, sizeof name, "mkdir %s", through_file[i]);
        expect_err(name, mkdir(through_file[i], 0755), ENOTDIR);
        snprintf(name, sizeof name, "unlink %s", through_file[i]);
        expect_err(name, unlink(through_file[i]), ENOTDIR);
    }
    /* Removing sysctls: EACCES for root too. */
    static const char *sysctls[] = {"/proc/sys/kernel", "/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
                                    "/proc/sys/kernel/keys"};
    for (size_t i = 0; i < sizeof sysctls / sizeof sysctls[0]; i++) {
        snprintf(name, sizeof name, "unlink %s", sysctls[i]);
        expect_err(name, unlink(sysctls[i]), EACCES);
        snprintf(name, sizeof name, "rmdir %s", sysctls[i]);
        expect_err(name, rmdir(sysctls[i]), EACCES);
    }
    /* Through /proc/self/cwd the names are the working directory's. */
    const char *dir = make_tmpdir();
    if (chdir(dir) != 0)
        return;
    expect_ok("mkdir_via_cwd_link", mkdir("/proc/self/cwd/made", 0755));
    struct stat st;
    check("made_is_dir", stat("made", &st) == 0 && S_ISDIR(st.st_mode));
    expect_ok("mknod_via_cwd_link", mknod("/proc/self/cwd/made/fifo", S_IFIFO | 0600, 0));
    check("fifo_made", lstat("made/fifo", &st) == 0 && S_ISFIFO(st.st_mode));
    expect_ok("unlink_via_cwd_link", unlink("/proc/self/cwd/made/fifo"));
    expect_ok("rmdir_via_cwd_link", rmdir("/proc/self/cwd/made"));
    check("made_gone", stat("made", &st) != 0 && errno == ENOENT);
    if (chdir("/") != 0)
        return;
    rm_tmpdir();
}

/* Write a sysctl's current value back (it changes nothing, where the host allows the
 * write at all), then a value it refuses; print what open and write say. */
static void write_back(const char *path, const char *name)
{
    char label[96];
    long n = slurp(path);
    int fd = open(path, O_WRONLY);
    snprintf(label, sizeof label, "%s_open", name);
    checkf(label, 1, "%s", fd >= 0 ? "ok" : errname(errno));
    if (fd < 0)
        return;
    ssize_t w = write(fd, g_buf, (size_t)n);
    checkf(name, 1, "%s", w == n ? "ok" : errname(errno));
    close(fd);
    fd = open(path, O_WRONLY);
    errno = 0;
    w = fd >= 0 ? write(fd, "x\n", 2) : -1;
    snprintf(label, sizeof label, "%s_bad_value", name);
    checkf(label, 1, "%s", w >= 0 ? "accepted" : errname(errno));
    if (fd >= 0)
        close(fd);
    show(path);
}

int main(void)
{
    list("/proc/sys");
    list("/proc/sys/kernel");
    list("/proc/sys/vm");
    list("/proc/sys/kernel/random");
    list("/proc/sys/kernel/keys");

    show("/proc/sys/kernel/domainname");
    show("/proc/sys/vm/nr_hugepages");
    show("/proc/sys/vm/swappiness");
    show("/proc/sys/vm/overcommit_ratio");
    show("/proc/sys/vm/min_free_kbytes");
    show("/proc/sys/kernel/shmmax");
    show("/proc/sys/kernel/msgmax");
    show("/proc/sys/kernel/sem");
    show("/proc/sys/kernel/random/poolsize");
    show("/proc/sys/kernel/keys/maxkeys");
    show("/proc/sys/kernel/pid_max");
    show("/proc/sys/fs/nr_open");
    show("/proc/sys/kernel/ostype");

    /* Through a directory descriptor of /proc/sys/kernel, and of /proc/sys. */
    int kd = open("/proc/sys/kernel", O_RDONLY | O_DIRECTORY);
    check("open_kernel_dir", kd >= 0);
    int fd = openat(kd, "domainname", O_RDONLY);
    checkf("openat_domainname", fd >= 0, "%s", fd >= 0 ? "ok" : errname(errno));
    if (fd >= 0) {
        ssize_t n = read(fd, g_buf, sizeof g_buf - 1);
        g_buf[n > 0 ? n : 0] = 0;
        checkf("openat_domainname_read", n > 0, "%zd %s", n, g_buf);
        close(fd);
    }
    struct stat st;
    expect_ok("fstatat_keys_dir", fstatat(kd, "keys", &st, 0));
    check("keys_is_dir", S_ISDIR(st.st_mode));
    expect_err("openat_missing", openat(kd, "no_such_sysctl", O_RDONLY), ENOENT);
    close(kd);
    int sd = open("/proc/sys", O_RDONLY | O_DIRECTORY);
    fd = openat(sd, "vm/nr_hugepages", O_RDONLY);
    checkf("openat_vm_nr_hugepages", fd >= 0, "%s", fd >= 0 ? "ok" : errname(errno));
    if (fd >= 0)
        close(fd);
    close(sd);

    /* Stat and access. */
    expect_ok("stat_domainname", stat("/proc/sys/kernel/domainname", &st));
    checkf("domainname_mode", S_ISREG(st.st_mode), "%o size %lld", st.st_mode, (long long)st.st_size);
    expect_ok("access_domainname_r", access("/proc/sys/kernel/domainname", R_OK));
    errno = 0;
    int r = access("/proc/sys/kernel/domainname", W_OK);
    checkf("access_domainname_w", 1, "%s", r == 0 ? "ok" : errname(errno));
    /* Read-only sysctls are read-only to root too. */
    expect_err("access_poolsize_w", access("/proc/sys/kernel/random/poolsize", W_OK), EACCES);
    expect_err("access_missing", access("/proc/sys/kernel/no_such_sysctl", F_OK), ENOENT);
    expect_err("stat_missing", stat("/proc/sys/vm/no_such_sysctl", &st), ENOENT);
    expect_err("stat_missing_dir", stat("/proc/sys/no_such_dir/x", &st), ENOENT);
    expect_err("stat_file_as_dir", stat("/proc/sys/kernel/domainname/x", &st), ENOTDIR);
    expect_err("open_poolsize_w", open("/proc/sys/kernel/random/poolsize", O_WRONLY), EACCES);

    /* Writing the current value back changes nothing, as root and otherwise. */
    long n = slurp("/proc/sys/kernel/domainname");
    fd = open("/proc/sys/kernel/domainname", O_WRONLY);
    if (fd < 0) {
        checkf("write_domainname_open", 1, "%s", errname(errno));
    } else {
        ssize_t w = write(fd, g_buf, (size_t)n);
        checkf("write_domainname", w == n, "%zd", w);
        close(fd);
        show("/proc/sys/kernel/domainname");
    }
    write_back("/proc/sys/vm/nr_hugepages", "write_nr_hugepages");
    make_and_remove();
    return finish();
}
