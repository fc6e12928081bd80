/* An interpreter for the #! script cases: prints the argument vector it was started
 * with, so a diff shows how the kernel rebuilt it ([interpreter, optional argument,
 * script path, arguments...]). Run directly, it prints its own. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("argc: %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]: [%s]\n", i, argv[i]);
    return 0;
}
