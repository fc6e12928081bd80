/* madvise refuses what Linux refuses, VMA by VMA:
 * - MADV_REMOVE needs a shared mapping that may write its file: EINVAL on private
 *   anonymous memory, EACCES on a private file mapping or a read-only shared one; on
 *   shared memory it frees the pages (they read as zero afterwards);
 * - MADV_DONTNEED, MADV_FREE, MADV_COLD and MADV_PAGEOUT are EINVAL on mlock'ed pages
 *   (also after mlockall, MCL_CURRENT for what is there, MCL_FUTURE for what comes);
 *   munlock and munlockall lift that, and a forked child inherits no locks;
 * - MADV_WIPEONFORK is EINVAL on file and shared mappings; on private anonymous memory a
 *   forked child finds zeros there (MADV_KEEPONFORK undoes it). */
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096

/* Run `fn(arg)` in a forked child, which prints; wait for it. */
static void in_child(void (*fn)(char *), char *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
}

static void child_reads(char *p)
{
    printf("child_reads: %d %d\n", p[0], p[PAGE]);
}

static void child_dontneed(char *p)
{
    expect_ok("child_dontneed_not_locked", madvise(p, PAGE, MADV_DONTNEED));
}

static char *anon(int pages, int flags)
{
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap: %s FAIL\n", errname(errno));
        exit(2);
    }
    return p;
}

int main(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/f", make_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PAGE];
    memset(page, 'f', sizeof page);
    check("write_file", write(fd, page, PAGE) == PAGE && write(fd, page, PAGE) == PAGE);
    int rofd = open(path, O_RDONLY);

    char *priv_anon = anon(1, MAP_PRIVATE);
    char *shared_anon = anon(2, MAP_SHARED);
    char *priv_file = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *shared_file = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *ro_shared = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, rofd, 0);
    check("mmaps", priv_file != MAP_FAILED && shared_file != MAP_FAILED && ro_shared != MAP_FAILED);

    /* MADV_REMOVE */
    priv_anon[0] = 1;
    expect_err("remove_private_anon", madvise(priv_anon, PAGE, MADV_REMOVE), EINVAL);
    expect_err("remove_private_file", madvise(priv_file, PAGE, MADV_REMOVE), EACCES);
    expect_err("remove_readonly_shared_file", madvise(ro_shared, PAGE, MADV_REMOVE), EACCES);
    printf("remove_private_anon_kept: %d\n", priv_anon[0]);
    shared_anon[0] = 's';
    shared_anon[PAGE] = 't';
    expect_ok("remove_shared_anon", madvise(shared_anon, PAGE, MADV_REMOVE));
    printf("remove_shared_anon_after: %d %c\n", shared_anon[0], shared_anon[PAGE]);
    /* A range over a private and a shared mapping stops at the private one. */
    char *pair = anon(2, MAP_SHARED);
    pair[0] = 'x';
    char *priv_next = mmap(pair + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check("pair", priv_next == pair + PAGE);
    expect_err("remove_shared_then_private", madvise(pair, 2 * PAGE, MADV_REMOVE), EINVAL);
    printf("remove_shared_then_private_first_done: %d\n", pair[0]);

    /* Locked pages */
    char *l = anon(3, MAP_PRIVATE);
    l[0] = 1;
    l[PAGE] = 2;
    l[2 * PAGE] = 3;
    expect_ok("mlock_middle", mlock(l + PAGE, PAGE));
    expect_err("dontneed_locked", madvise(l + PAGE, PAGE, MADV_DONTNEED), EINVAL);
    expect_err("free_locked", madvise(l + PAGE, PAGE, MADV_FREE), EINVAL);
    expect_err("cold_locked", madvise(l + PAGE, PAGE, MADV_COLD), EINVAL);
    expect_err("pageout_locked", madvise(l + PAGE, PAGE, MADV_PAGEOUT), EINVAL);
    expect_err("remove_locked_shared", (mlock(shared_anon, PAGE), madvise(shared_anon, PAGE, MADV_REMOVE)), EINVAL);
    munlock(shared_anon, PAGE);
    /* Linux works VMA by VMA: the unlocked first page goes before the locked one refuses. */
    expect_err("dontneed_across_locked", madvise(l, 3 * PAGE, MADV_DONTNEED), EINVAL);
    printf("dontneed_across_locked_pages: %d %d %d\n", l[0], l[PAGE], l[2 * PAGE]);
    expect_ok("dontneed_unlocked_neighbour", madvise(l + 2 * PAGE, PAGE, MADV_DONTNEED));
    in_child(child_dontneed, l + PAGE);
    expect_ok("munlock", munlock(l + PAGE, PAGE));
    expect_ok("dontneed_after_munlock", madvise(l, 3 * PAGE, MADV_DONTNEED));
    printf("dontneed_after_munlock_pages: %d %d %d\n", l[0], l[PAGE], l[2 * PAGE]);

    expect_ok("mlockall_current", mlockall(MCL_CURRENT));
    expect_err("dontneed_after_mlockall", madvise(priv_anon, PAGE, MADV_DONTNEED), EINVAL);
    char *later = anon(1, MAP_PRIVATE);
    expect_ok("dontneed_new_mapping_current_only", madvise(later, PAGE, MADV_DONTNEED));
    expect_ok("munlockall", munlockall());
    expect_ok("dontneed_after_munlockall", madvise(priv_anon, PAGE, MADV_DONTNEED));
    expect_ok("mlockall_future", mlockall(MCL_FUTURE));
    char *future = anon(1, MAP_PRIVATE);
    expect_err("dontneed_new_mapping_future", madvise(future, PAGE, MADV_DONTNEED), EINVAL);
    expect_ok("dontneed_old_mapping_future_only", madvise(priv_anon, PAGE, MADV_DONTNEED));
    expect_ok("munlockall_again", munlockall());
    char *after = anon(1, MAP_PRIVATE);
    expect_ok("dontneed_after_future_lifted", madvise(after, PAGE, MADV_DONTNEED));

    /* MADV_WIPEONFORK */
    expect_err("wipe_private_file", madvise(priv_file, PAGE, MADV_WIPEONFORK), EINVAL);
    expect_err("wipe_shared_file", madvise(shared_file, PAGE, MADV_WIPEONFORK), EINVAL);
    expect_err("wipe_shared_anon", madvise(shared_anon, PAGE, MADV_WIPEONFORK), EINVAL);
    expect_ok("keep_shared_file", madvise(shared_file, PAGE, MADV_KEEPONFORK));
    char *w = anon(2, MAP_PRIVATE);
    w[0] = 7;
    w[PAGE] = 8;
    expect_ok("wipe_private_anon_first_page", madvise(w, PAGE, MADV_WIPEONFORK));
    in_child(child_reads, w);
    printf("parent_reads: %d %d\n", w[0], w[PAGE]);
    expect_ok("keep_private_anon", madvise(w, PAGE, MADV_KEEPONFORK));
    in_child(child_reads, w);

    close(fd);
    close(rofd);
    unlink(path);
    rmdir(g_tmpdir);
    return finish();
}
