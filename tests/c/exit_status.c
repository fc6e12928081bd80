/* Exit with the status given as argv[1] (0, 1, 42, 255, ...). Also prints its
 * arguments so argv passing is compared. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    fflush(stdout);
    return argc > 1 ? atoi(argv[1]) : 0;
}
