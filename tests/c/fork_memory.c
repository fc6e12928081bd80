/* What a forked child shares with its parent and what it gets a copy of: memory is
 * copy-on-write (globals, heap, stack, private mappings), shared mappings stay shared,
 * descriptors and their file offsets are shared. Also vfork and clone's tid flags. */
#include "common.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int global = 1;

static int wait_code(pid_t pid)
{
    int st = -1;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void copy_on_write(void)
{
    char *heap = malloc(1 << 20);
    memset(heap, 'p', 1 << 20);
    char *anon = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    anon[100] = 'p';
    int local = 7;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child sees the parent's values, then changes its copies. */
        int saw = global == 1 && heap[12345] == 'p' && anon[100] == 'p' && local == 7;
        global = 2;
        memset(heap, 'c', 1 << 20);
        anon[100] = 'c';
        local = 8;
        /* A child may also map and fault in new memory of its own. */
        char *more = malloc(4 << 20);
        memset(more, 1, 4 << 20);
        _exit(saw ? 0 : 1);
    }
    int code = wait_code(pid);
    checkf("child_saw_parent_memory", code == 0, "%d", code);
    check("global_not_shared", global == 1);
    check("heap_not_shared", heap[0] == 'p' && heap[(1 << 20) - 1] == 'p');
    check("anon_not_shared", anon[100] == 'p');
    check("stack_not_shared", local == 7);
    /* And the other way round: the parent's writes after fork stay its own. */
    int fds[2];
    pipe(fds);
    pid = fork();
    if (pid == 0) {
        char c;
        read(fds[0], &c, 1);
        _exit(global == 1 ? 0 : 1);
    }
    global = 3;
    write(fds[1], "x", 1);
    code = wait_code(pid);
    checkf("parent_writes_not_shared", code == 0, "%d", code);
    global = 1;
    close(fds[0]);
    close(fds[1]);
}

static void shared_file_mapping(void)
{
    char path[] = "fork_shared_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    ftruncate(fd, 4096);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        checkf("shared_file_mapping", 0, "mmap %s", errname(errno));
        return;
    }
    p[0] = 'a';
    pid_t pid = fork();
    if (pid == 0) {
        p[0] = 'b';
        p[1] = 'c';
        _exit(0);
    }
    wait_code(pid);
    check("shared_file_mapping", p[0] == 'b' && p[1] == 'c');
    munmap(p, 4096);
    close(fd);
}

static void shared_anonymous_mapping(void)
{
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    p[0] = 'a';
    check("shared_anon_zeroed", p[4096] == 0);
    pid_t pid = fork();
    if (pid == 0) {
        p[0] = 'b';
        p[5000] = 'c';
        _exit(0);
    }
    wait_code(pid);
    check("shared_anon_mapping", p[0] == 'b' && p[5000] == 'c');
    munmap(p, 8192);
}

static void descriptors(void)
{
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        const char msg[] = "from the child";
        write(fds[1], msg, sizeof msg);
        _exit(0);
    }
    close(fds[1]);
    char buf[64] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf);
    checkf("pipe_from_child", n == 15 && strcmp(buf, "from the child") == 0, "%s", buf);
    wait_code(pid);
    check("pipe_eof_after_child", read(fds[0], buf, sizeof buf) == 0);
    close(fds[0]);

    char path[] = "fork_offset_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    write(fd, "parent", 6);
    pid = fork();
    if (pid == 0) {
        write(fd, "child", 5);
        _exit(0);
    }
    wait_code(pid);
    checkf("offset_shared", lseek(fd, 0, SEEK_CUR) == 11, "%ld", (long)lseek(fd, 0, SEEK_CUR));
    write(fd, "!", 1);
    char all[16] = {0};
    pread(fd, all, sizeof all - 1, 0);
    checkf("file_content", strcmp(all, "parentchild!") == 0, "%s", all);
    /* Closing in the child does not close the parent's descriptor. */
    pid = fork();
    if (pid == 0) {
        close(fd);
        _exit(0);
    }
    wait_code(pid);
    check("close_in_child_is_private", fcntl(fd, F_GETFD) != -1);
    close(fd);
}

static void with_vfork(void)
{
    pid_t pid = vfork();
    if (pid == 0)
        _exit(33);
    int code = wait_code(pid);
    checkf("vfork", code == 33, "%d", code);
}

static void with_clone_flags(void)
{
    pid_t child_tid = 0, parent_tid = 0;
    long r = syscall(SYS_clone, CLONE_CHILD_SETTID | CLONE_PARENT_SETTID | SIGCHLD, 0, &parent_tid, &child_tid, 0);
    if (r == 0)
        _exit(child_tid == syscall(SYS_getpid) ? 0 : 1);
    int code = wait_code((pid_t)r);
    checkf("clone_child_settid", code == 0, "%d", code);
    check("clone_parent_settid", parent_tid == (pid_t)r);
    check("clone_child_tid_not_in_parent", child_tid == 0);
}

static void signals_in_child(void)
{
    /* A pending blocked signal is not inherited. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t pending;
        sigpending(&pending);
        _exit(sigismember(&pending, SIGUSR1) ? 1 : 0);
    }
    int code = wait_code(pid);
    checkf("pending_not_inherited", code == 0, "%d", code);
    sigset_t pending;
    sigpending(&pending);
    check("pending_kept_in_parent", sigismember(&pending, SIGUSR1));
    signal(SIGUSR1, SIG_IGN);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    signal(SIGUSR1, SIG_DFL);
    /* alarm is not inherited either. */
    alarm(100);
    pid = fork();
    if (pid == 0)
        _exit(alarm(0) == 0 ? 0 : 1);
    code = wait_code(pid);
    checkf("alarm_not_inherited", code == 0, "%d", code);
    check("alarm_kept_in_parent", alarm(0) > 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    copy_on_write();
    shared_file_mapping();
    shared_anonymous_mapping();
    descriptors();
    with_vfork();
    with_clone_flags();
    signals_in_child();
    return g_failures != 0;
}
