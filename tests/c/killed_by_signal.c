/* Dies by SIGTERM with the default action: linuxrun must die by the same signal. */
#include <signal.h>
#include <stdio.h>

int main(void)
{
    printf("about to raise SIGTERM\n");
    fflush(stdout);
    raise(SIGTERM);
    printf("still alive after SIGTERM\n");
    return 3;
}
