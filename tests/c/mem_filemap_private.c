/* File mmap without signals or fork (what a dynamic loader and libc start-up use):
 * MAP_PRIVATE read-only and read-write (writes stay private), at an offset, the zeroed
 * tail of the last page, surviving close(fd), MAP_FIXED over other mappings, PROT_NONE
 * keeping contents, partial munmap, MAP_SHARED read-only, mmap's errors; and
 * /proc/self/exe and the resource limits that libc start-up reads. */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define PG 4096UL
#define FILE_LEN (3 * PG + 100)

static unsigned char byte_at(size_t i)
{
    return (unsigned char)(i * 7 + 1);
}

/* `len` bytes at `p` equal the file's bytes from `off`. */
static int matches_file(const unsigned char *p, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != byte_at(off + i))
            return 0;
    return 1;
}

static int all_bytes(const unsigned char *p, size_t len, unsigned char v)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void private_mappings(int fd)
{
    unsigned char *p = mmap(NULL, FILE_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
    check("private_ro_maps", p != MAP_FAILED);
    if (p == MAP_FAILED)
        return;
    check("private_ro_content", matches_file(p, 0, FILE_LEN));
    /* The rest of the last page, past the end of the file, reads as zero. */
    check("private_tail_zero", all_bytes(p + FILE_LEN, 4 * PG - FILE_LEN, 0));

    unsigned char *q = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, PG);
    check("private_offset_content", q != MAP_FAILED && matches_file(q, PG, 2 * PG));

    unsigned char *w = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check("private_rw_maps", w != MAP_FAILED);
    if (w != MAP_FAILED) {
        memset(w + 10, 0xee, 100);
        unsigned char buf[100];
        check("private_rw_sees_write", all_bytes(w + 10, 100, 0xee) && matches_file(w + 110, 110, PG));
        check("private_rw_file_unchanged", pread(fd, buf, 100, 10) == 100 && matches_file(buf, 10, 100));
        check("private_other_mapping_unchanged", matches_file(p + 10, 10, 100));
        /* PROT_NONE and back keeps what was written. */
        expect_ok("private_prot_none", mprotect(w, 2 * PG, PROT_NONE));
        expect_ok("private_prot_back", mprotect(w, 2 * PG, PROT_READ));
        check("private_prot_none_keeps_data", all_bytes(w + 10, 100, 0xee) && matches_file(w + PG, PG, PG));
        munmap(w, 2 * PG);
    }

    /* Unmapping the middle page leaves the others. */
    expect_ok("private_munmap_middle", munmap(p + PG, PG));
    check("private_after_munmap", matches_file(p, 0, PG) && matches_file(p + 2 * PG, 2 * PG, FILE_LEN - 2 * PG));
    munmap(p, FILE_LEN);
    if (q != MAP_FAILED)
        munmap(q, 2 * PG);
}

static void fixed_over_anonymous(int fd)
{
    unsigned char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("anon_maps", a != MAP_FAILED);
    if (a == MAP_FAILED)
        return;
    memset(a, 'x', 4 * PG);
    unsigned char *f = mmap(a + PG, 2 * PG, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, PG);
    check("fixed_at_address", f == a + PG);
    check("fixed_file_content", matches_file(a + PG, PG, 2 * PG));
    check("fixed_neighbours_kept", all_bytes(a, PG, 'x') && all_bytes(a + 3 * PG, PG, 'x'));
    /* And back: anonymous memory over the file pages is zero. */
    f = mmap(a + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    check("fixed_anon_over_file_zero", f == a + PG && all_bytes(f, PG, 0) && matches_file(a + 2 * PG, 2 * PG, PG));
    munmap(a, 4 * PG);
}

static void mapping_survives_close(const char *path)
{
    int fd = open(path, O_RDONLY);
    unsigned char *p = mmap(NULL, FILE_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    check("after_close_content", p != MAP_FAILED && matches_file(p, 0, FILE_LEN));
    if (p != MAP_FAILED)
        munmap(p, FILE_LEN);
}

static void shared_read_only(const char *path)
{
    int fd = open(path, O_RDONLY);
    unsigned char *p = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, PG);
    check("shared_ro_content", p != MAP_FAILED && matches_file(p, PG, 2 * PG));
    /* A read-only descriptor's shared mapping can never be made writable. */
    if (p != MAP_FAILED) {
        expect_err("shared_ro_mprotect_write", mprotect(p, PG, PROT_READ | PROT_WRITE), EACCES);
        munmap(p, 2 * PG);
    }
    expect_err("shared_rw_on_rdonly_fd", mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
    close(fd);
}

static void errors(const char *path, const char *dir)
{
    int fd = open(path, O_RDONLY);
    expect_err("offset_unaligned", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 100), EINVAL);
    expect_err("length_zero", mmap(NULL, 0, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL);
    expect_err("no_sharing_type", mmap(NULL, PG, PROT_READ, 0, fd, 0), EINVAL);
    expect_err("bad_fd", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 999, 0), EBADF);
    expect_err("negative_fd", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0), EBADF);
    close(fd);
    int wfd = open(path, O_WRONLY);
    expect_err("write_only_fd", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wfd, 0), EACCES);
    close(wfd);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    expect_err("directory_fd", mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dfd, 0), ENODEV);
    close(dfd);
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void exe_and_limits(const char *argv0)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    check("proc_self_exe", n > 0 && buf[0] == '/' && !strcmp(base(buf), base(argv0)));
    char small[4];
    n = readlink("/proc/self/exe", small, sizeof small);
    check("proc_self_exe_truncated", n == (ssize_t)sizeof small && !memcmp(small, buf, sizeof small));

    struct rlimit a, b;
    check("getrlimit_stack", getrlimit(RLIMIT_STACK, &a) == 0);
    check("prlimit_stack_same", prlimit(0, RLIMIT_STACK, NULL, &b) == 0 && a.rlim_cur == b.rlim_cur &&
                                    a.rlim_max == b.rlim_max);
    struct rlimit core = { 0, 0 };
    struct rlimit old, now;
    check("prlimit_set_core", prlimit(0, RLIMIT_CORE, &core, &old) == 0);
    check("prlimit_core_read_back", getrlimit(RLIMIT_CORE, &now) == 0 && now.rlim_cur == 0 && now.rlim_max == 0);
    struct rlimit inverted = { 2, 1 };
    expect_err("soft_above_hard", setrlimit(RLIMIT_CORE, &inverted), EINVAL);
    expect_err("unknown_resource", getrlimit(1000, &now), EINVAL);
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *dir = make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/data", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unsigned char content[FILE_LEN];
    for (size_t i = 0; i < FILE_LEN; i++)
        content[i] = byte_at(i);
    check("file_written", write(fd, content, FILE_LEN) == (ssize_t)FILE_LEN);
    close(fd);

    fd = open(path, O_RDONLY);
    private_mappings(fd);
    fixed_over_anonymous(fd);
    close(fd);
    mapping_survives_close(path);
    shared_read_only(path);
    errors(path, dir);
    exe_and_limits(argv[0]);
    rm_tmpdir();
    return finish();
}
