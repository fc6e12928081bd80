/* chroot: Linux's checks and errors, then (as root, in forked children so the test keeps its
 * own root) what a process sees inside the new root: absolute paths, ".." and absolute
 * symlinks stay inside, the working directory outside the root reads "(unreachable)...",
 * a relative chroot, files and a UNIX socket made inside land in the directory, and an
 * unprivileged process gets EACCES (no search permission) before EPERM. sshd's privilege
 * separation does the same: chroot("/run/sshd"), chdir("/"), then drop to its user. */
#include "common.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

static char g_path[512];

static const char *in_tmp(const char *name)
{
    snprintf(g_path, sizeof g_path, "%s/%s", g_tmpdir, name);
    return g_path;
}

/* The file's first line ("" if it cannot be read). */
static const char *contents(const char *path)
{
    static char buf[64];
    buf[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errname(errno);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
    return buf;
}

/* The raw getcwd syscall: glibc's wrapper turns "(unreachable)..." into ENOENT. */
static const char *raw_getcwd(void)
{
    static char buf[4096];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    if (n < 0)
        return errname(errno);
    return buf;
}

static void expect_contents(const char *name, const char *path, const char *want)
{
    const char *got = contents(path);
    checkf(name, !strcmp(got, want), "%s", got);
}

/* Runs inside the new root; its exit status is its failure count. */
static void inside(ino_t root_ino)
{
    struct stat st;
    expect_ok("chroot_tmpdir", chroot(g_tmpdir));
    const char *cwd = raw_getcwd();
    check("cwd_outside_is_unreachable", !strncmp(cwd, "(unreachable)/", 14));
    expect_contents("absolute_path_inside", "/sub/file", "hi");
    expect_contents("absolute_symlink_stays_inside", "/sub/abs", "hi");
    expect_contents("dotdot_stops_at_root", "/../../sub/file", "hi");
    expect_contents("symlink_up_stops_at_root", "/sub/up/sub/file", "hi");
    check("root_is_the_directory", stat("/", &st) == 0 && st.st_ino == root_ino);
    check("dotdot_of_root_is_root", stat("/..", &st) == 0 && st.st_ino == root_ino);
    expect_err("outside_is_gone", access("/etc/passwd", F_OK), ENOENT);
    expect_ok("chdir_root", chdir("/"));
    checkf("cwd_root", !strcmp(raw_getcwd(), "/"), "%s", raw_getcwd());
    expect_ok("chdir_sub", chdir("sub"));
    checkf("cwd_sub", !strcmp(raw_getcwd(), "/sub"), "%s", raw_getcwd());

    /* A relative chroot from inside: the working directory is the new root. */
    expect_ok("chroot_dot", chroot("."));
    checkf("cwd_is_new_root", !strcmp(raw_getcwd(), "/"), "%s", raw_getcwd());
    expect_contents("file_in_new_root", "/file", "hi");
    expect_err("old_root_gone", access("/sub", F_OK), ENOENT);
    expect_ok("mkdir_inside", mkdir("/newdir", 0755));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "/sock" };
    expect_ok("bind_unix_inside", bind(s, (struct sockaddr *)&a, sizeof a));
    close(s);
    expect_err("chroot_missing_inside", chroot("/missing"), ENOENT);
}

/* An unprivileged process: search permission is checked first, then the capability. */
static void unprivileged(void)
{
    gid_t none[1] = { 65534 };
    if (setgroups(1, none) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
        checkf("drop_privileges", 0, "%s", errname(errno));
        return;
    }
    expect_err("chroot_no_search_permission", chroot(in_tmp("noexec")), EACCES);
    expect_err("chroot_without_capability", chroot(in_tmp("sub")), EPERM);
    expect_err("chroot_missing_unprivileged", chroot(in_tmp("missing")), ENOENT);
}

static void in_child(const char *name, void (*body)(ino_t), ino_t arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body(arg);
        fflush(stdout);
        _exit(g_failures ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    checkf(name, WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit %d", WEXITSTATUS(status));
}

static void unprivileged_body(ino_t unused)
{
    (void)unused;
    unprivileged();
}

int main(void)
{
    make_tmpdir();
    chmod(g_tmpdir, 0755);
    mkdir(in_tmp("sub"), 0755);
    mkdir(in_tmp("noexec"), 0600);
    int fd = open(in_tmp("sub/file"), O_CREAT | O_WRONLY, 0644);
    check("setup", write(fd, "hi\n", 3) == 3);
    close(fd);
    symlink("/sub/file", in_tmp("sub/abs"));
    symlink("/../../..", in_tmp("sub/up"));
    struct stat st;
    stat(g_tmpdir, &st);

    expect_err("chroot_missing", chroot(in_tmp("missing")), ENOENT);
    expect_err("chroot_file", chroot(in_tmp("sub/file")), ENOTDIR);
    expect_err("chroot_below_file", chroot(in_tmp("sub/file/x")), ENOTDIR);
    expect_err("chroot_empty", chroot(""), ENOENT);
    expect_err("chroot_efault", syscall(SYS_chroot, (char *)1), EFAULT);

    if (geteuid() != 0) {
        expect_err("chroot_not_root", chroot(in_tmp("sub")), EPERM);
        printf("not root: the checks inside a new root are left out\n");
    } else {
        in_child("inside_new_root", inside, st.st_ino);
        /* What the child made inside its root is in the directory, seen from here. */
        struct stat made;
        check("dir_made_inside", stat(in_tmp("sub/newdir"), &made) == 0 && S_ISDIR(made.st_mode));
        check("socket_made_inside", lstat(in_tmp("sub/sock"), &made) == 0 && S_ISSOCK(made.st_mode));
        in_child("unprivileged", unprivileged_body, 0);
    }
    /* The parent's root never changed. */
    expect_contents("parent_root_unchanged", in_tmp("sub/file"), "hi");
    rm_tmpdir();
    return finish();
}
