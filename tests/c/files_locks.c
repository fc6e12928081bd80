/* Record locks (fcntl F_SETLK/F_GETLK, open file description locks) and flock. */
#include "common.h"
#include <fcntl.h>
#include <sys/file.h>

int main(void)
{
    char dir[] = "/tmp/linuxrun-locks-XXXXXX";
    check("mkdtemp", mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    check("open", fd >= 0);

    struct flock wr = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check("setlk_write", fcntl(fd, F_SETLK, &wr) == 0);
    /* A process never conflicts with its own POSIX locks. */
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check("getlk_own_lock_unlocked", fcntl(fd, F_GETLK, &q) == 0 && q.l_type == F_UNLCK);
    /* An OFD lock on another open file description does conflict with it... no: POSIX and
     * OFD locks conflict across descriptions; ask through a second description. */
    int fd2 = open(path, O_RDWR);
    struct flock ofd = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check("ofd_getlk_sees_conflict", fcntl(fd2, F_OFD_GETLK, &ofd) == 0 && ofd.l_type == F_WRLCK);
    check("ofd_getlk_pid_is_posix_owner", ofd.l_pid > 0);
    struct flock ofd_set = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    expect_err("ofd_setlk_conflict", fcntl(fd2, F_OFD_SETLK, &ofd_set), EAGAIN);
    struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check("unlock", fcntl(fd, F_SETLK, &un) == 0);
    check("ofd_setlk_after_unlock", fcntl(fd2, F_OFD_SETLK, &ofd_set) == 0);
    struct flock bad = {.l_type = 42, .l_whence = SEEK_SET};
    expect_err("setlk_bad_type", fcntl(fd, F_SETLK, &bad), EINVAL);
    expect_err("setlk_bad_fd", fcntl(1000, F_SETLK, &wr), EBADF);

    check("flock_ex", flock(fd, LOCK_EX | LOCK_NB) == 0);
    expect_err("flock_conflict_other_description", flock(fd2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    check("flock_un", flock(fd, LOCK_UN) == 0);
    check("flock_sh_after_un", flock(fd2, LOCK_SH | LOCK_NB) == 0);
    expect_err("flock_bad_op", flock(fd, 0x40), EINVAL);

    close(fd);
    close(fd2);
    unlink(path);
    rmdir(dir);
    return finish();
}
