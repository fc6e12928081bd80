/* abort() -> death by SIGABRT (glibc unblocks SIGABRT and resets the handler). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void handler(int sig) { (void)sig; }

int main(void)
{
    /* A handler that returns must not stop abort(): glibc re-raises with SIG_DFL. */
    signal(SIGABRT, handler);
    printf("about to abort\n");
    fflush(stdout);
    abort();
}
