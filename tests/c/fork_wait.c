/* fork + wait4/waitpid: exit statuses, deaths by signal, ECHILD, WNOHANG, waitpid(-1),
 * waitid's siginfo, ids in the child, a grandchild. Children write only before the parent
 * prints (the parent waits first), so the output order is deterministic. */
#include "common.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static pid_t spawn_exit(int code)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(code);
    return pid;
}

static void exit_statuses(void)
{
    int codes[] = {0, 1, 42, 255};
    for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pid_t pid = spawn_exit(codes[i]);
        int st = -1;
        pid_t got = waitpid(pid, &st, 0);
        checkf("exit_status", got == pid && WIFEXITED(st) && WEXITSTATUS(st) == codes[i], "exited=%d code=%d",
               WIFEXITED(st), WEXITSTATUS(st));
    }
}

static void deaths_by_signal(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGTERM);
        _exit(99);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    checkf("sigterm", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "signaled=%d sig=%d", WIFSIGNALED(st),
           WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    pid = fork();
    if (pid == 0)
        abort();
    st = -1;
    waitpid(pid, &st, 0);
    checkf("abort", WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "signaled=%d sig=%d", WIFSIGNALED(st),
           WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(1);
    }
    kill(pid, SIGKILL);
    st = -1;
    waitpid(pid, &st, 0);
    checkf("killed_by_parent", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "sig=%d", WTERMSIG(st));
}

static void ids(void)
{
    int fds[2];
    pipe(fds);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        int ok = getppid() == parent && getpid() != parent && getpid() > 0;
        write(fds[1], &ok, sizeof ok);
        pid_t me = getpid();
        write(fds[1], &me, sizeof me);
        _exit(0);
    }
    int ok = 0;
    pid_t child_pid = 0;
    read(fds[0], &ok, sizeof ok);
    read(fds[0], &child_pid, sizeof child_pid);
    waitpid(pid, NULL, 0);
    check("child_ids", ok);
    check("fork_returns_child_pid", child_pid == pid);
    check("parent_pid_unchanged", getpid() == parent);
    close(fds[0]);
    close(fds[1]);
}

static void no_children(void)
{
    expect_err("wait_echild", wait(NULL), ECHILD);
    expect_err("waitpid_echild", waitpid(-1, NULL, WNOHANG), ECHILD);
    siginfo_t si;
    expect_err("waitid_echild", waitid(P_ALL, 0, &si, WEXITED), ECHILD);
    expect_err("waitpid_bad_options", waitpid(-1, NULL, 0x1000), EINVAL);
}

static void wnohang(void)
{
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(fds[1]);
        read(fds[0], &c, 1);
        _exit(c);
    }
    close(fds[0]);
    int st = -1;
    checkf("wnohang_running", waitpid(pid, &st, WNOHANG) == 0, "");
    write(fds[1], "\5", 1);
    close(fds[1]);
    pid_t got = waitpid(-1, &st, 0);
    checkf("waitpid_any", got == pid && WIFEXITED(st), "code=%d", WEXITSTATUS(st));
}

static void with_waitid(void)
{
    pid_t pid = spawn_exit(17);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, pid, &si, WEXITED);
    checkf("waitid", r == 0 && si.si_pid == pid && si.si_uid == getuid(), "signo=%d code=%d status=%d", si.si_signo,
           si.si_code, si.si_status);
    pid = fork();
    if (pid == 0)
        raise(SIGKILL);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    checkf("waitid_killed", r == 0 && si.si_pid == pid, "signo=%d code=%d status=%d", si.si_signo, si.si_code,
           si.si_status);
    /* WNOWAIT leaves the child waitable. */
    pid = spawn_exit(3);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    int st = -1;
    pid_t got = waitpid(pid, &st, 0);
    checkf("waitid_wnowait", r == 0 && got == pid, "status=%d then %d", si.si_status, WEXITSTATUS(st));
}

static void with_wait4(void)
{
    pid_t pid = spawn_exit(9);
    struct rusage ru;
    int st = -1;
    pid_t got = wait4(pid, &st, 0, &ru);
    checkf("wait4_rusage", got == pid && WEXITSTATUS(st) == 9, "code=%d", WEXITSTATUS(st));
}

static void grandchild(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pid_t me = getpid();
        pid_t g = fork();
        if (g == 0)
            _exit(getppid() == me ? 5 : 6);
        int st = -1;
        waitpid(g, &st, 0);
        _exit(WEXITSTATUS(st) + 10);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    checkf("grandchild", WEXITSTATUS(st) == 15, "code=%d", WEXITSTATUS(st));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    exit_statuses();
    deaths_by_signal();
    ids();
    no_children();
    wnohang();
    with_waitid();
    with_wait4();
    grandchild();
    return g_failures != 0;
}
