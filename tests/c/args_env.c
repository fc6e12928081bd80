/* argv, envp and the auxiliary vector as the kernel lays them out at exec. */
#include "common.h"
#include <sys/auxv.h>
#include <elf.h>

extern char **environ;

int main(int argc, char **argv)
{
    printf("argc: %d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]: [%s]\n", i, argv[i]);
    check("argv_null_terminated", argv[argc] == NULL);

    /* The harness passes a clean, fixed environment; print it sorted. */
    int n = 0;
    while (environ[n])
        n++;
    char **sorted = calloc(n + 1, sizeof *sorted);
    for (int i = 0; i < n; i++)
        sorted[i] = environ[i];
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(sorted[i], sorted[j]) > 0) {
                char *t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t;
            }
    printf("envc: %d\n", n);
    for (int i = 0; i < n; i++)
        printf("env: %s\n", sorted[i]);
    checkf("getenv_PATH", getenv("PATH") != NULL, "%s", getenv("PATH") ? "set" : "unset");

    /* Auxiliary vector entries whose values are deterministic facts. */
    checkf("AT_PAGESZ", getauxval(AT_PAGESZ) == 4096, "%lu", getauxval(AT_PAGESZ));
    check("AT_RANDOM_present", getauxval(AT_RANDOM) != 0);
    check("AT_PHDR_present", getauxval(AT_PHDR) != 0);
    checkf("AT_PHENT", getauxval(AT_PHENT) == sizeof(Elf64_Phdr), "%lu", getauxval(AT_PHENT));
    check("AT_PHNUM_nonzero", getauxval(AT_PHNUM) > 0);
    check("AT_ENTRY_present", getauxval(AT_ENTRY) != 0);
    checkf("AT_UID", 1, "%lu", getauxval(AT_UID));
    checkf("AT_EUID", 1, "%lu", getauxval(AT_EUID));
    checkf("AT_GID", 1, "%lu", getauxval(AT_GID));
    checkf("AT_EGID", 1, "%lu", getauxval(AT_EGID));
    checkf("AT_SECURE", getauxval(AT_SECURE) == 0, "%lu", getauxval(AT_SECURE));
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    check("AT_EXECFN_present", execfn != NULL);
    /* AT_EXECFN is the path passed to execve; compare only its last component. */
    if (execfn) {
        const char *slash = strrchr(execfn, '/');
        const char *a0 = strrchr(argv[0], '/');
        check("AT_EXECFN_basename_matches_argv0",
              !strcmp(slash ? slash + 1 : execfn, a0 ? a0 + 1 : argv[0]));
    }
    /* 16 random bytes: only check they exist and are not all zero. */
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    for (int i = 0; rnd && i < 16; i++)
        nonzero |= rnd[i];
    check("AT_RANDOM_nonzero", nonzero);

    /* Initial stack pointer is 16-byte aligned at process entry; by main the ABI
     * guarantees a 16-byte aligned frame, which a wrong initial layout breaks. */
    long aligned __attribute__((aligned(16))) = 0;
    check("stack_alignment", ((unsigned long)&aligned & 15) == 0);
    return finish();
}
