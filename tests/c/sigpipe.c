/* A write to a pipe nobody reads: EPIPE, and SIGPIPE kills the writer by default. */
#include "common.h"
#include <signal.h>

static volatile int g_sigpipe;
static void on_pipe(int sig) { g_sigpipe = sig; }

int main(void)
{
    int fds[2];
    check("pipe", pipe(fds) == 0);
    close(fds[0]);
    signal(SIGPIPE, on_pipe);
    expect_err("write_epipe", write(fds[1], "x", 1), EPIPE);
    check("sigpipe_handled", g_sigpipe == SIGPIPE);
    signal(SIGPIPE, SIG_DFL);
    fflush(stdout);
    write(fds[1], "x", 1); /* dies here */
    printf("still alive\n");
    return 1;
}
