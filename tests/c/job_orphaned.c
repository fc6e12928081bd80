/* Stop signals and orphaned process groups. Linux discards a SIGTSTP, SIGTTIN or SIGTTOU
 * whose action is the default when the receiver's process group is orphaned (no member has
 * a parent in another group of the same session: nobody there could continue it), whoever
 * sent it; SIGSTOP still stops, and a handler still runs. A child that calls setsid() is
 * such a group; a child in its own group under us (setpgid) is not, and stops. */
#include "common.h"

#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t g_handled;

static void on_tstp(int sig)
{
    (void)sig;
    g_handled++;
}

/* Fork a child that runs `body` and exits with its result. */
static pid_t spawn(int (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(body());
    return pid;
}

/* The child's own signals to itself, each with the default action. */
static int orphaned_self(void)
{
    setsid();
    kill(getpid(), SIGTSTP);
    raise(SIGTTIN);
    raise(SIGTTOU);
    return 7;
}

/* A signal blocked while sent is judged when it is unblocked, still discarded. */
static int orphaned_unblocked_later(void)
{
    setsid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTSTP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGTSTP);
    sigset_t pending;
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGTSTP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    return was_pending ? 8 : 9;
}

/* A handler runs: the rule is about the default action only. */
static int orphaned_handler(void)
{
    setsid();
    signal(SIGTSTP, on_tstp);
    raise(SIGTSTP);
    return g_handled == 1 ? 10 : 11;
}

/* SIGSTOP is not discarded: the parent sees the stop and continues us. */
static int orphaned_sigstop(void)
{
    setsid();
    raise(SIGSTOP);
    return 12;
}

static int g_pipe[2];

/* Waits for a byte from the parent, which signals it meanwhile. */
static int orphaned_waiting(void)
{
    setsid();
    char c;
    return read(g_pipe[0], &c, 1) == 1 ? 13 : 100;
}

static int grouped_waiting(void)
{
    setpgid(0, 0);
    char c;
    return read(g_pipe[0], &c, 1) == 1 ? 14 : 100;
}

static void expect_exit(const char *name, pid_t pid, int code)
{
    int st = -1;
    pid_t got = waitpid(pid, &st, WUNTRACED);
    if (got == pid && WIFSTOPPED(st)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    checkf(name, got == pid && WIFEXITED(st) && WEXITSTATUS(st) == code, "exited=%d code=%d stopped=%d",
           WIFEXITED(st), WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSTOPPED(st));
}

/* The parent sends the stop signals to a waiting child, then lets it go. */
static void sent_from_outside(const char *name, int (*body)(void), int code, int stops)
{
    if (pipe(g_pipe) != 0)
        return;
    pid_t pid = spawn(body);
    close(g_pipe[0]);
    /* Signal only once the child has made its group (it would otherwise be ours). */
    for (int i = 0; i < 500 && getpgid(pid) != pid; i++)
        usleep(2000);
    kill(pid, SIGTSTP);
    int st = -1;
    if (stops) {
        pid_t got = waitpid(pid, &st, WUNTRACED);
        checkf("grouped_stopped", got == pid && WIFSTOPPED(st), "sig=%d", WIFSTOPPED(st) ? WSTOPSIG(st) : -1);
        kill(pid, SIGCONT);
    } else {
        kill(pid, SIGTTIN);
        kill(pid, SIGTTOU);
        usleep(100000);
        pid_t got = waitpid(pid, &st, WUNTRACED | WNOHANG);
        checkf("orphaned_not_stopped", got == 0, "got=%d stopped=%d", got == pid, got == pid && WIFSTOPPED(st));
    }
    if (write(g_pipe[1], "x", 1) != 1)
        printf("write failed\n");
    close(g_pipe[1]);
    expect_exit(name, pid, code);
}

int main(void)
{
    expect_exit("orphaned_self", spawn(orphaned_self), 7);
    expect_exit("orphaned_unblocked_later", spawn(orphaned_unblocked_later), 8);
    expect_exit("orphaned_handler", spawn(orphaned_handler), 10);

    pid_t pid = spawn(orphaned_sigstop);
    int st = -1;
    pid_t got = waitpid(pid, &st, WUNTRACED);
    checkf("orphaned_sigstop_stops", got == pid && WIFSTOPPED(st), "sig=%d", WIFSTOPPED(st) ? WSTOPSIG(st) : -1);
    kill(pid, SIGCONT);
    expect_exit("orphaned_sigstop_continued", pid, 12);

    sent_from_outside("orphaned_from_parent", orphaned_waiting, 13, 0);
    sent_from_outside("grouped_from_parent", grouped_waiting, 14, 1);
    return g_failures ? 1 : 0;
}
