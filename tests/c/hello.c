/* The smallest useful program: one line on stdout, exit 0. The first case to pass
 * when bringing up linuxrun. */
#include <stdio.h>

int main(void)
{
    printf("hello, world\n");
    return 0;
}
