/* getdents (not getdents64), which glibc before 2.30 called for readdir and old static
 * programs still call: struct linux_dirent's layout (the name after d_reclen, d_type in
 * the record's last byte), the same entries and types as getdents64 gives, a /proc
 * directory too, and the errors (a buffer too small for one entry, not a directory, a bad
 * descriptor). */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

struct old_dirent {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[];
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of directory `path` as "name:type", sorted, from getdents or getdents64. */
static int list(const char *path, int old, char **out, int max)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    char buf[512];
    int count = 0;
    for (;;) {
        long n = syscall(old ? SYS_getdents : SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const char *name;
            unsigned char type;
            unsigned short reclen;
            if (old) {
                struct old_dirent *d = (struct old_dirent *)(buf + off);
                name = d->d_name;
                reclen = d->d_reclen;
                type = buf[off + reclen - 1];
            } else {
                struct dirent64 *d = (struct dirent64 *)(buf + off);
                name = d->d_name;
                reclen = d->d_reclen;
                type = d->d_type;
            }
            if (count < max) {
                out[count] = malloc(strlen(name) + 8);
                sprintf(out[count], "%s:%u", name, type);
                count++;
            }
            off += reclen;
        }
    }
    close(fd);
    qsort(out, count, sizeof out[0], cmp);
    return count;
}

int main(void)
{
    const char *dir = make_tmpdir();
    char path[256];
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof path, "%s/file-with-a-longer-name-%02d", dir, i);
        close(open(path, O_CREAT | O_WRONLY, 0600));
    }
    snprintf(path, sizeof path, "%s/sub", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/link", dir);
    symlink("sub", path);

    char *a[64], *b[64];
    int na = list(dir, 1, a, 64), nb = list(dir, 0, b, 64);
    checkf("same_count", na == nb && na == 44, "%d %d", na, nb);
    int same = na == nb;
    for (int i = 0; same && i < na; i++)
        same = strcmp(a[i], b[i]) == 0;
    check("same_entries_and_types", same);
    for (int i = 0; i < na; i++)
        if (strncmp(a[i], "file-with", 9) != 0)
            printf("entry %s\n", a[i]);

    char *p[256], *q[256];
    int np = list("/proc/self", 1, p, 256), nq = list("/proc/self", 0, q, 256);
    int proc_same = np == nq && np > 10;
    for (int i = 0; proc_same && i < np; i++)
        proc_same = strcmp(p[i], q[i]) == 0;
    check("proc_self_same", proc_same);

    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    char tiny[8];
    expect_err("buffer_too_small", syscall(SYS_getdents, fd, tiny, sizeof tiny), EINVAL);
    close(fd);
    snprintf(path, sizeof path, "%s/file-with-a-longer-name-00", dir);
    fd = open(path, O_RDONLY);
    char buf[256];
    expect_err("not_a_directory", syscall(SYS_getdents, fd, buf, sizeof buf), ENOTDIR);
    close(fd);
    expect_err("bad_fd", syscall(SYS_getdents, -1, buf, sizeof buf), EBADF);
    rm_tmpdir();
    return finish();
}
