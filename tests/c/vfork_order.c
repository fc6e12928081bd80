/* vfork suspends the parent until the child execs or exits: what the child writes before
 * it ends comes out before anything the parent writes afterwards, every time. */
#include "common.h"

#include <sys/wait.h>

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(99);
}

int main(void)
{
    for (int round = 0; round < 3; round++) {
        pid_t pid = vfork();
        if (pid == 0) {
            say("child before _exit\n");
            _exit(round);
        }
        say("parent after the child's _exit\n");
        int st = 0;
        waitpid(pid, &st, 0);
        checkf("vfork_exit_status", WIFEXITED(st) && WEXITSTATUS(st) == round, "%d", WEXITSTATUS(st));
    }
    pid_t pid = vfork();
    if (pid == 0) {
        say("child before exec\n");
        char *argv[] = {"/bin/true", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    say("parent after the child's exec\n");
    int st = 0;
    waitpid(pid, &st, 0);
    checkf("vfork_exec_status", WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d", WEXITSTATUS(st));
    return g_failures != 0;
}
