/* An interpreter for the #! script cases: prints the argument vector it was started
 * with, so a diff shows how the kernel rebuilt it ([interpreter, optional argument,
 * script path, arguments...]), and the name the process got: Linux names it after the
 * file execve was given (the script's, for a script) in comm and AT_EXECFN. Run
 * directly, it prints its own. */
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>

int main(int argc, char **argv)
{
    printf("argc: %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]: [%s]\n", i, argv[i]);
    char comm[32] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    if (f && fgets(comm, sizeof comm, f))
        comm[strcspn(comm, "\n")] = 0;
    if (f)
        fclose(f);
    printf("comm: [%s]\n", comm);
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("execfn: [%s]\n", execfn ? execfn : "(none)");
    return 0;
}
