/* What a packed program must see as the unpacked one does: its arguments, an environment
 * variable, the working directory, a host file named on the command line, and its exit
 * status (argc + 40). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char cwd[4096];
    for (int i = 0; i < argc; i++)
        printf("argv[%d] = %s\n", i, argv[i]);
    const char *v = getenv("PACKED_VAR");
    printf("PACKED_VAR = %s\n", v ? v : "(unset)");
    printf("cwd = %s\n", getcwd(cwd, sizeof cwd) ? cwd : "(none)");
    if (argc > 1) {
        FILE *f = fopen(argv[argc - 1], "r");
        char line[256];
        if (f && fgets(line, sizeof line, f))
            printf("host file: %s", line);
        else
            printf("host file: (cannot read %s)\n", argv[argc - 1]);
    }
    fflush(stdout);
    if (getenv("PACK_TEST_ABORT"))
        abort();
    return argc + 40;
}
