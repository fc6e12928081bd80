/* inotify: events for create, modify, attrib, close, delete and both halves of a move in
 * a temporary directory (names, masks and the shared move cookie), IN_NONBLOCK's EAGAIN,
 * readiness through poll and epoll, rm_watch's IN_IGNORED, IN_DONT_FOLLOW and IN_ONLYDIR,
 * a read buffer that straddles a page boundary, and the errors (EBADF, EINVAL, ENOENT,
 * ENOTDIR, EFAULT). Watch descriptors are printed relative to the first one. */
#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define EVBUF (sizeof(struct inotify_event) + NAME_MAX + 1)

static int base_wd;

/* Print every event a read returns, one line each: wd relative to the first watch, mask,
 * name; a cookie only as whether it is set. Returns how many events there were. */
static int dump(const char *what, char *buf, ssize_t n, uint32_t *cookie)
{
    int count = 0;
    for (char *p = buf; p < buf + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        printf("%s: wd+%d mask=%#x name=%s cookie=%s\n", what, e->wd - base_wd, e->mask, e->len ? e->name : "-",
               e->cookie ? "set" : "0");
        if (cookie && e->cookie)
            *cookie = *cookie ? (*cookie == e->cookie ? *cookie : 1) : e->cookie;
        p += sizeof(struct inotify_event) + e->len;
        count++;
    }
    return count;
}

static int read_all(int fd, const char *what, uint32_t *cookie)
{
    char buf[8 * EVBUF] __attribute__((aligned(8)));
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
        printf("%s: read %s\n", what, errname(errno));
        return -1;
    }
    return dump(what, buf, n, cookie);
}

int main(void)
{
    const char *dir = make_tmpdir();
    char a[128], b[128], sub[128], link[128], missing[128];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);

    expect_err("init1_bad_flags", inotify_init1(0x1), EINVAL);
    int old = inotify_init();
    check("init", old >= 0);
    check("init_no_cloexec", (fcntl(old, F_GETFD) & FD_CLOEXEC) == 0);
    close(old);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    check("init1", fd >= 0);
    check("init1_cloexec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    check("init1_nonblock", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);

    expect_err("add_bad_fd", inotify_add_watch(999, dir, IN_ALL_EVENTS), EBADF);
    expect_err("add_not_inotify", inotify_add_watch(1, dir, IN_ALL_EVENTS), EINVAL);
    expect_err("add_missing", inotify_add_watch(fd, missing, IN_ALL_EVENTS), ENOENT);
    expect_err("add_empty_mask", inotify_add_watch(fd, dir, 0), EINVAL);
    expect_err("add_bad_path", inotify_add_watch(fd, (const char *)8, IN_ALL_EVENTS), EFAULT);
    expect_err("rm_bad_wd", inotify_rm_watch(fd, 12345), EINVAL);
    expect_err("rm_bad_fd", inotify_rm_watch(999, 1), EBADF);

    base_wd = inotify_add_watch(fd, dir, IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVE | IN_ATTRIB | IN_CLOSE_WRITE);
    check("add_dir", base_wd >= 0);
    check("add_same_again", inotify_add_watch(fd, dir, IN_CREATE | IN_MASK_ADD) == base_wd);
    char buf[EVBUF * 4];
    expect_err("read_empty_nonblocking", read(fd, buf, sizeof buf), EAGAIN);

    struct pollfd p = {.fd = fd, .events = POLLIN};
    check("poll_not_ready", poll(&p, 1, 0) == 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    expect_ok("epoll_add", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    check("epoll_not_ready", epoll_wait(ep, &ev, 1, 0) == 0);

    int f = open(a, O_CREAT | O_WRONLY, 0644);
    check("poll_ready", poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
    check("epoll_ready", epoll_wait(ep, &ev, 1, 0) == 1 && ev.data.u32 == 7);
    write(f, "hello", 5);
    close(f);
    chmod(a, 0600);
    read_all(fd, "create_modify_close_attrib", NULL);

    /* An event needs at least sizeof(struct inotify_event) + its name. */
    f = open(a, O_WRONLY);
    write(f, "x", 1);
    close(f);
    expect_err("read_too_small", read(fd, buf, sizeof(struct inotify_event)), EINVAL);
    read_all(fd, "after_short_read", NULL);

    uint32_t cookie = 0;
    rename(a, b);
    check("move_events", read_all(fd, "move", &cookie) == 2);
    check("move_cookie_shared", cookie != 0 && cookie != 1);
    unlink(b);
    read_all(fd, "delete", NULL);

    /* A buffer that starts 20 bytes before a page boundary: the event crosses it. */
    /* Two pages mapped apart, so that they need not be adjacent in memory (a guest kernel
     * then passes the buffer to the host as two pieces). */
    char *pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pages[0] = 1;
    munmap(pages + 4096, 4096);
    char *other = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(other, 1, 1 << 20);
    mmap(pages + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    pages[4096] = 1;
    munmap(other, 1 << 20);
    f = open(a, O_CREAT | O_WRONLY, 0644);
    close(f);
    char *straddle = pages + 4096 - 20;
    ssize_t n = read(fd, straddle, 4096);
    check("straddling_read", n > 0);
    if (n > 0)
        dump("straddling", straddle, n, NULL);
    unlink(a);
    read_all(fd, "delete_again", NULL);
    /* A buffer that cannot be written: EFAULT (Linux loses the event it took; linuxrun
     * takes none, so what is left is not compared). */
    f = open(a, O_CREAT | O_WRONLY, 0644);
    close(f);
    void *volatile bad = (void *)8;
    expect_err("read_bad_buffer", read(fd, bad, 4096), EFAULT);
    while (read(fd, buf, sizeof buf) > 0)
        ;
    unlink(a);
    munmap(pages, 8192);

    /* rm_watch queues IN_IGNORED for the watch. */
    expect_ok("rm_watch", inotify_rm_watch(fd, base_wd));
    read_all(fd, "after_rm_watch", NULL);
    expect_err("rm_watch_again", inotify_rm_watch(fd, base_wd), EINVAL);

    /* A symlink: followed by default, the link itself with IN_DONT_FOLLOW. */
    mkdir(sub, 0755);
    symlink("sub", link);
    f = open(a, O_CREAT | O_WRONLY, 0644);
    close(f);
    expect_err("onlydir_on_file", inotify_add_watch(fd, a, IN_CREATE | IN_ONLYDIR), ENOTDIR);
    int w_follow = inotify_add_watch(fd, link, IN_CREATE | IN_ONLYDIR);
    check("link_followed_is_dir", w_follow >= 0);
    expect_err("link_dont_follow_onlydir", inotify_add_watch(fd, link, IN_ATTRIB | IN_DONT_FOLLOW | IN_ONLYDIR),
               ENOTDIR);
    int w_link = inotify_add_watch(fd, link, IN_ATTRIB | IN_DONT_FOLLOW);
    check("link_dont_follow", w_link >= 0 && w_link != w_follow);
    char inside[160];
    snprintf(inside, sizeof inside, "%s/x", sub);
    f = open(inside, O_CREAT | O_WRONLY, 0644);
    close(f);
    n = read(fd, buf, sizeof buf);
    check("event_through_link", n > 0 && ((struct inotify_event *)buf)->wd == w_follow &&
                                    ((struct inotify_event *)buf)->mask == IN_CREATE);
    unlink(inside);
    unlink(a);

    /* A blocking instance: read waits for the event a child makes. */
    int bfd = inotify_init1(0);
    inotify_add_watch(bfd, dir, IN_CREATE);
    if (fork() == 0) {
        int g = open(a, O_CREAT | O_WRONLY, 0644);
        close(g);
        _exit(0);
    }
    n = read(bfd, buf, sizeof buf);
    check("blocking_read_woken", n > 0 && ((struct inotify_event *)buf)->mask == IN_CREATE &&
                                      !strcmp(((struct inotify_event *)buf)->name, "a"));
    close(bfd);
    close(ep);
    close(fd);
    expect_err("raw_init1_bad", syscall(SYS_inotify_init1, -1), EINVAL);

    rm_tree(dir);
    return finish();
}
