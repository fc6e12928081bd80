/* NULL dereference with no handler: death by SIGSEGV. */
#include <stdio.h>

int main(void)
{
    printf("about to dereference NULL\n");
    fflush(stdout);
    volatile int *p = (volatile int *)0;
    *p = 1;
    printf("still alive after NULL write\n");
    return 3;
}
