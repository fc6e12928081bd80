/* /proc/sys as programs read it: the entries of /proc/sys, /proc/sys/kernel, /proc/sys/vm
 * and /proc/sys/kernel/random (names, types, modes, whether they open for reading), the
 * contents of files whose values do not change while the test runs (domainname,
 * nr_hugepages...), a subdirectory (kernel/keys), access() as sysctl decides it (root
 * cannot write a read-only sysctl), writing a value back, and what does not exist. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

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
    return finish();
}
