/* Shared mappings that grow, move and come from /dev/zero, as on Linux:
 * - mremap(MREMAP_MAYMOVE) grows a MAP_SHARED file mapping: the new pages are the file's
 *   (writes through them reach it), the old contents stay, a page past the end of the
 *   file is SIGBUS; growing in place, shrinking and MREMAP_FIXED work too;
 * - mremap grows a MAP_SHARED|MAP_ANONYMOUS mapping: what was there stays shared with a
 *   forked child, and the pages past the original size are SIGBUS (its shmem object keeps
 *   its size); an old size of 0 maps its pages a second time (EINVAL for private memory);
 * - mmap of /dev/zero with MAP_SHARED is shared anonymous memory (a forked child's
 *   writes are seen), MAP_PRIVATE of it is not shared;
 * - /proc/self/maps says `s` for shared mappings and `p` for private ones. */
#include "common.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096

static sigjmp_buf g_jump;

static void on_signal(int sig)
{
    siglongjmp(g_jump, sig);
}

/* The byte at p, or the signal a read of it raised (as a negative number). */
static int peek(const char *p)
{
    int sig = sigsetjmp(g_jump, 1);
    if (sig)
        return -sig;
    return *(volatile const char *)p;
}

/* Run `fn(arg)` in a forked child and wait for it. */
static void in_child(void (*fn)(char *), char *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
}

static void child_writes_c(char *p)
{
    p[0] = 'c';
}

/* The permission field (e.g. "rw-s") of the /proc/self/maps line starting at addr. */
static void maps_perms(const char *name, void *addr)
{
    char line[512], want[32], perms[8] = "none";
    snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) == 0) {
            sscanf(strchr(line, ' ') + 1, "%4s", perms);
            break;
        }
    }
    if (f)
        fclose(f);
    printf("%s: %s\n", name, perms);
}

static void file_mapping(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/f", make_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char buf[3 * PAGE];
    for (int i = 0; i < 3 * PAGE; i++)
        buf[i] = 'a' + i / PAGE;
    check("write_file", write(fd, buf, sizeof buf) == sizeof buf);

    char *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check("mmap_file_one_page", m != MAP_FAILED);
    m[0] = 'X';
    /* Something right behind it, so that it cannot grow in place. */
    char *block = mmap(m + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    char *n = mremap(m, PAGE, 5 * PAGE, MREMAP_MAYMOVE);
    checkf("file_grow_maymove", n != MAP_FAILED, "%s", n == MAP_FAILED ? errname(errno) : "ok");
    if (n == MAP_FAILED)
        return;
    check("file_grow_moved", block == MAP_FAILED || n != m);
    printf("file_grow_old_page: %c\n", n[0]);
    printf("file_grow_new_pages: %c %c\n", n[PAGE], n[2 * PAGE]);
    printf("file_grow_past_eof: %d\n", peek(n + 4 * PAGE));
    n[2 * PAGE + 1] = 'Y';
    char c = 0;
    check("file_grow_write_reaches_file", pread(fd, &c, 1, 2 * PAGE + 1) == 1 && c == 'Y');
    check("file_grow_sees_file_write", pwrite(fd, "Z", 1, PAGE + 2) == 1 && n[PAGE + 2] == 'Z');
    maps_perms("file_grow_maps", n);
    if (block != MAP_FAILED)
        munmap(block, PAGE);

    /* Shrink, then grow again in place (nothing is behind it now). */
    char *s = mremap(n, 5 * PAGE, 2 * PAGE, 0);
    check("file_shrink", s == n);
    char *munmapped_tail = mmap(n + 2 * PAGE, 3 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check("file_shrink_freed_tail", munmapped_tail == n + 2 * PAGE);
    munmap(munmapped_tail, 3 * PAGE);
    char *g = mremap(n, 2 * PAGE, 3 * PAGE, 0);
    checkf("file_grow_in_place", g == n, "%s", g == MAP_FAILED ? errname(errno) : "ok");
    if (g == n)
        printf("file_grow_in_place_pages: %c %c %c\n", g[0], g[PAGE + 2], g[2 * PAGE + 1]);

    /* Move it whole to a chosen address, growing it by a page. */
    char *target = mmap(NULL, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *f = mremap(n, 3 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target + 2 * PAGE);
    checkf("file_move_fixed", f == target + 2 * PAGE, "%s", f == MAP_FAILED ? errname(errno) : "ok");
    if (f != MAP_FAILED) {
        printf("file_move_fixed_pages: %c %c %c\n", f[0], f[PAGE + 2], f[2 * PAGE + 1]);
        printf("file_move_fixed_past_eof: %d\n", peek(f + 3 * PAGE));
        printf("file_move_fixed_old_gone: %d\n", peek(n));
        f[1] = 'M';
        check("file_move_fixed_write_reaches_file", pread(fd, &c, 1, 1) == 1 && c == 'M');
        munmap(f, 4 * PAGE);
    }
    munmap(target, 8 * PAGE);
    close(fd);
    unlink(path);
    rmdir(g_tmpdir);
}

static void shared_anonymous(void)
{
    char *a = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check("mmap_shared_anon", a != MAP_FAILED);
    a[0] = 'Q';
    maps_perms("shared_anon_maps", a);
    char *block = mmap(a + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    char *b = mremap(a, PAGE, 3 * PAGE, MREMAP_MAYMOVE);
    checkf("shared_anon_grow_maymove", b != MAP_FAILED, "%s", b == MAP_FAILED ? errname(errno) : "ok");
    if (block != MAP_FAILED)
        munmap(block, PAGE);
    if (b == MAP_FAILED)
        return;
    printf("shared_anon_grow_old_page: %c\n", b[0]);
    printf("shared_anon_grow_past_size: %d\n", peek(b + PAGE));
    in_child(child_writes_c, b);
    printf("shared_anon_grow_still_shared: %c\n", b[0]);
    maps_perms("shared_anon_grow_maps", b);

    /* An old size of 0: a second mapping of the same pages. */
    char *d = mremap(b, 0, PAGE, MREMAP_MAYMOVE);
    checkf("shared_anon_duplicate", d != MAP_FAILED && d != b, "%s", d == MAP_FAILED ? errname(errno) : "ok");
    if (d != MAP_FAILED) {
        d[1] = 'd';
        printf("shared_anon_duplicate_shares: %c %c\n", d[0], b[1]);
        munmap(d, PAGE);
        printf("shared_anon_duplicate_unmapped_original_stays: %c\n", b[1]);
    }
    expect_err("shared_anon_duplicate_needs_maymove", mremap(b, 0, PAGE, 0), ENOMEM);
    munmap(b, 3 * PAGE);
}

static void dev_zero(void)
{
    int z = open("/dev/zero", O_RDWR);
    check("open_dev_zero", z >= 0);
    char *s = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, z, 0);
    checkf("mmap_dev_zero_shared", s != MAP_FAILED, "%s", s == MAP_FAILED ? errname(errno) : "ok");
    char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
    check("mmap_dev_zero_private", p != MAP_FAILED);
    close(z);
    if (p != MAP_FAILED) {
        printf("dev_zero_private_zero: %d\n", p[0]);
        p[0] = 'p';
        in_child(child_writes_c, p);
        printf("dev_zero_private_not_shared: %c\n", p[0]);
        maps_perms("dev_zero_private_maps", p);
    }
    if (s == MAP_FAILED)
        return;
    printf("dev_zero_shared_zero: %d %d\n", s[0], s[PAGE]);
    in_child(child_writes_c, s + PAGE);
    printf("dev_zero_shared_child_write: %c\n", s[PAGE]);
    maps_perms("dev_zero_shared_maps", s);
    char *g = mremap(s, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
    checkf("dev_zero_shared_grow", g != MAP_FAILED, "%s", g == MAP_FAILED ? errname(errno) : "ok");
    if (g != MAP_FAILED)
        printf("dev_zero_shared_grow_pages: %c %d\n", g[PAGE], peek(g + 3 * PAGE));
}

int main(void)
{
    signal(SIGBUS, on_signal);
    signal(SIGSEGV, on_signal);
    file_mapping();
    shared_anonymous();
    dev_zero();

    char *pa = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pa[0] = 1;
    maps_perms("private_anon_maps", pa);
    expect_err("private_duplicate", mremap(pa, 0, PAGE, MREMAP_MAYMOVE), EINVAL);
    return finish();
}
