/* Shared helpers for the differential test programs.
 *
 * Every program prints one line per check ("name: ok", "name: ENOENT", ...) and
 * keeps going after a failed check, so a diff against the native run shows exactly
 * where linuxrun diverges. Only deterministic facts are printed: never addresses,
 * pids, times or random bytes. The exit status is 0 only if every check passed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_failures;

/* Symbolic errno names, so output reads "ENOENT" rather than "2" and a wrong errno
 * is obvious in a diff. Unknown values fall back to the number. */
static __attribute__((unused)) const char *errname(int e)
{
    static char buf[32];
    switch (e) {
    case 0: return "0";
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC)
    E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST)
    E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY)
    E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG)
    E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(EOVERFLOW) E(EOPNOTSUPP) E(ETIMEDOUT)
    E(EDEADLK) E(EOWNERDEAD) E(ENOTRECOVERABLE) E(ENOMSG) E(EIDRM)
    E(EADDRINUSE) E(EADDRNOTAVAIL) E(ECONNREFUSED) E(ECONNRESET) E(ENOTCONN) E(EISCONN)
    E(EAFNOSUPPORT) E(ENOTSOCK) E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(EPROTOTYPE)
    E(EDESTADDRREQ) E(EMSGSIZE) E(ENOPROTOOPT) E(EINPROGRESS) E(EALREADY) E(ENOBUFS)
#undef E
    default:
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
}

/* Record a boolean check. */
static __attribute__((unused)) void check(const char *name, int ok)
{
    printf("%s: %s\n", name, ok ? "ok" : "FAIL");
    if (!ok)
        g_failures++;
}

/* Record a check with a printf-style detail that must equal what native prints
 * (the diff is the real oracle; `ok` is the program's own sanity check). */
static __attribute__((unused)) void checkf(const char *name, int ok, const char *fmt, ...)
{
    va_list ap;
    printf("%s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("%s\n", ok ? "" : " FAIL");
    if (!ok)
        g_failures++;
}

/* Check that a call returned -1 with the expected errno; prints the errno seen.
 * Use as: expect_err("open_missing", open(...), ENOENT); errno is read right after. */
#define expect_err(name, call, want)                                              \
    do {                                                                          \
        errno = 0;                                                                \
        long r_ = (long)(call);                                                   \
        int e_ = errno;                                                           \
        if (r_ == -1)                                                             \
            checkf(name, e_ == (want), "%s", errname(e_));                        \
        else                                                                      \
            checkf(name, 0, "succeeded (want %s)", errname(want));                \
    } while (0)

/* Check that a call succeeded (did not return -1); on failure prints the errno. */
#define expect_ok(name, call)                                                     \
    do {                                                                          \
        errno = 0;                                                                \
        long r_ = (long)(call);                                                   \
        int e_ = errno;                                                           \
        if (r_ == -1)                                                             \
            checkf(name, 0, "%s", errname(e_));                                   \
        else                                                                      \
            check(name, 1);                                                       \
    } while (0)

/* Check a pthread-style return value (0 or an error number, errno untouched). */
#define expect_rc(name, call, want)                                               \
    do {                                                                          \
        int rc_ = (call);                                                         \
        checkf(name, rc_ == (want), "%s", rc_ == 0 ? "ok" : errname(rc_));       \
    } while (0)

/* Print the summary line and return the exit status for main. */
static __attribute__((unused)) int finish(void)
{
    printf("failures: %d\n", g_failures);
    fflush(stdout);
    return g_failures ? 1 : 0;
}

/* Simple order-sensitive checksum (FNV-1a 64) for comparing large buffers. */
static __attribute__((unused)) unsigned long long fnv1a(const void *p, size_t n, unsigned long long h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV_INIT 14695981039346656037ULL

/* A fresh private directory under /tmp, removed by rm_tmpdir at the end. */
static char g_tmpdir[64];
static __attribute__((unused)) const char *make_tmpdir(void)
{
    strcpy(g_tmpdir, "/tmp/lrtest-XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        printf("mkdtemp: %s FAIL\n", errname(errno));
        exit(2);
    }
    return g_tmpdir;
}

/* Remove the temp dir recursively (tests only create plain files, dirs, symlinks). */
#include <dirent.h>
#include <sys/stat.h>
static __attribute__((unused)) void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rm_tree(sub);
            }
            closedir(d);
        }
        chmod(path, 0700);
        rmdir(path);
    } else {
        unlink(path);
    }
}
static __attribute__((unused)) void rm_tmpdir(void)
{
    if (g_tmpdir[0]) {
        rm_tree(g_tmpdir);
        struct stat st;
        check("tmpdir_removed", lstat(g_tmpdir, &st) != 0 && errno == ENOENT);
    }
}
