/* wait4/waitpid/waitid with WUNTRACED, WCONTINUED, WNOWAIT and WNOHANG on a child the parent
 * stops with SIGSTOP and continues with SIGCONT: the statuses (WIFSTOPPED/WSTOPSIG,
 * WIFCONTINUED) and waitid's si_code (CLD_STOPPED, CLD_CONTINUED) must be Linux's. The child
 * blocks reading a pipe, so it is stopped at a known point and ends when told. */
#include "common.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static int g_pipe[2];

/* A child that waits for one byte on the pipe, then exits with `code`. */
static pid_t spawn_waiting_child(int code)
{
    if (pipe(g_pipe) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        /* Its own process group, whose parent (we) is in another group of the session: the
         * kernel discards SIGTSTP/SIGTTIN for an orphaned group, as ours may be when the
         * tests run in a fresh session (CI). */
        setpgid(0, 0);
        close(g_pipe[1]);
        ssize_t n = read(g_pipe[0], &c, 1);
        _exit(n == 1 ? code : 100);
    }
    setpgid(pid, pid);
    close(g_pipe[0]);
    return pid;
}

static void release_child(void)
{
    if (write(g_pipe[1], "x", 1) != 1)
        printf("write failed\n");
    close(g_pipe[1]);
}

static const char *code_name(int code)
{
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    case 0: return "0";
    default: return "other";
    }
}

static void waitpid_flags(void)
{
    pid_t pid = spawn_waiting_child(3);
    int st = -1;
    check("stop_sent", kill(pid, SIGSTOP) == 0);
    pid_t got = waitpid(pid, &st, WUNTRACED);
    checkf("stopped", got == pid && WIFSTOPPED(st), "status=%#x stopped=%d sig=%d", st, WIFSTOPPED(st),
           WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
    /* Reported once: a second WUNTRACED|WNOHANG wait finds nothing new. */
    st = -1;
    got = waitpid(pid, &st, WUNTRACED | WNOHANG);
    checkf("stop_reported_once", got == 0, "%d", got == pid ? 1 : got);
    /* Without WUNTRACED a stopped child is not reported. */
    got = waitpid(pid, &st, WNOHANG);
    checkf("plain_wait_ignores_stop", got == 0, "%d", got == pid ? 1 : got);

    check("cont_sent", kill(pid, SIGCONT) == 0);
    st = -1;
    got = waitpid(pid, &st, WCONTINUED);
    checkf("continued", got == pid && WIFCONTINUED(st), "status=%#x continued=%d", st, WIFCONTINUED(st));
    got = waitpid(pid, &st, WCONTINUED | WNOHANG);
    checkf("continue_reported_once", got == 0, "%d", got == pid ? 1 : got);

    /* waitpid(-1) and wait4 with rusage see a stop too. */
    kill(pid, SIGSTOP);
    struct rusage ru;
    st = -1;
    got = wait4(-1, &st, WUNTRACED, &ru);
    checkf("wait4_any_stopped", got == pid && WIFSTOPPED(st), "sig=%d", WIFSTOPPED(st) ? WSTOPSIG(st) : 0);
    kill(pid, SIGCONT);
    got = wait4(pid, &st, WCONTINUED, &ru);
    checkf("wait4_continued", got == pid && WIFCONTINUED(st), "%d", WIFCONTINUED(st));

    release_child();
    st = -1;
    got = waitpid(pid, &st, WUNTRACED | WCONTINUED);
    checkf("exited", got == pid && WIFEXITED(st), "code=%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void waitid_flags(void)
{
    pid_t pid = spawn_waiting_child(4);
    siginfo_t si;
    kill(pid, SIGTSTP);
    /* WNOWAIT leaves the event to be waited for again. */
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, pid, &si, WSTOPPED | WNOWAIT);
    checkf("waitid_nowait", r == 0 && si.si_pid == pid, "signo=%d code=%s status=%d", si.si_signo,
           code_name(si.si_code), si.si_status);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WSTOPPED);
    checkf("waitid_stopped", r == 0 && si.si_pid == pid && si.si_uid == getuid(), "signo=%d code=%s status=%d",
           si.si_signo, code_name(si.si_code), si.si_status);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WSTOPPED | WNOHANG);
    checkf("waitid_nothing_new", r == 0, "pid_set=%d code=%s", si.si_pid != 0, code_name(si.si_code));

    kill(pid, SIGCONT);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WCONTINUED | WNOWAIT);
    checkf("waitid_continued_nowait", r == 0 && si.si_pid == pid, "code=%s status=%d", code_name(si.si_code),
           si.si_status);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WCONTINUED);
    checkf("waitid_continued", r == 0 && si.si_pid == pid, "code=%s status=%d", code_name(si.si_code), si.si_status);

    /* Stopped by another signal, then killed while stopped. */
    kill(pid, SIGTTIN);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WSTOPPED);
    checkf("waitid_ttin", r == 0, "code=%s status=%d", code_name(si.si_code), si.si_status);
    kill(pid, SIGKILL);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED | WSTOPPED | WCONTINUED);
    checkf("killed_while_stopped", r == 0, "code=%s status=%d", code_name(si.si_code), si.si_status);
    close(g_pipe[1]);
    expect_err("no_more_children", waitid(P_ALL, 0, &si, WEXITED | WNOHANG), ECHILD);
    expect_err("waitid_no_flags", waitid(P_ALL, 0, &si, WNOHANG), EINVAL);
}

int main(void)
{
    waitpid_flags();
    waitid_flags();
    return finish();
}
