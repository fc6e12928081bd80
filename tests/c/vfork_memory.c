/* A vfork child shares its parent's memory until it execs or exits, as on Linux: what it
 * writes to globals, to the parent's stack, to a large heap buffer, and what a read() puts
 * into a buffer, is there when the parent resumes; and posix_spawn reports an exec failure
 * (which glibc passes back through that shared memory) instead of a child exiting 127. */
#include "common.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static int g_global;
static char g_bss[3 * 4096];

static void reap(pid_t pid, const char *what)
{
    int st = 0;
    waitpid(pid, &st, 0);
    printf("%s: exited %d status %d\n", what, WIFEXITED(st), WEXITSTATUS(st));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    volatile int on_stack = 1;
    size_t big_len = 3 << 20;
    char *big = malloc(big_len);
    memset(big, 'a', big_len);
    int p[2];
    if (pipe(p) != 0 || write(p[1], "from a pipe", 11) != 11)
        return 2;

    pid_t pid = vfork();
    if (pid == 0) {
        g_global = 42;
        on_stack = 7;
        g_bss[4096 + 5] = 'x';
        big[0] = 'b';
        big[big_len / 2] = 'c';
        big[big_len - 1] = 'd';
        if (read(p[0], g_bss, 11) != 11)
            _exit(3);
        _exit(0);
    }
    reap(pid, "writer child");
    printf("global %d stack %d bss %c heap %c%c%c%c pipe %.11s\n", g_global, on_stack, g_bss[4096 + 5], big[0],
           big[1], big[big_len / 2], big[big_len - 1], g_bss);

    /* Written before an exec: there after the exec too. */
    pid = vfork();
    if (pid == 0) {
        g_global = 99;
        char *argv[] = {"/bin/true", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    reap(pid, "exec child");
    printf("before exec: %d\n", g_global);

    /* A failed exec in the child: glibc reports it through memory the two share. */
    pid_t spawned = 0;
    char *missing[] = {"/nonexistent/program", NULL};
    int r = posix_spawn(&spawned, missing[0], NULL, NULL, missing, environ);
    printf("posix_spawn missing: %s\n", errname(r));
    char *ok[] = {"/bin/sh", "-c", "exit 5", NULL};
    r = posix_spawn(&spawned, ok[0], NULL, NULL, ok, environ);
    printf("posix_spawn sh: %s\n", errname(r));
    if (r == 0)
        reap(spawned, "spawned");
    r = posix_spawnp(&spawned, "no-such-program-anywhere", NULL, NULL, missing, environ);
    printf("posix_spawnp missing: %s\n", errname(r));
    free(big);
    return g_failures ? 1 : 0;
}
