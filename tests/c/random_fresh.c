/* Randomness is fresh in every process: getrandom on both sides of a fork, and AT_RANDOM
 * (glibc's stack-protector canary) and getrandom in each program a child execs, must
 * differ. Prints only whether values differ, never the bytes. */
#include "common.h"
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/wait.h>

#define CHILDREN 3
#define N 16

/* One process's sample: its AT_RANDOM bytes and 16 bytes of getrandom. */
struct sample {
    unsigned char at_random[N];
    unsigned char drawn[N];
};

static void take(struct sample *s)
{
    memcpy(s->at_random, (const void *)getauxval(AT_RANDOM), N);
    if (getrandom(s->drawn, N, 0) != N)
        memset(s->drawn, 0, N);
}

static int all_distinct(const struct sample *s, int n, int exec_fields)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (!memcmp(s[i].drawn, s[j].drawn, N))
                return 0;
            if (exec_fields && !memcmp(s[i].at_random, s[j].at_random, N))
                return 0;
        }
    return 1;
}

/* Forks CHILDREN children that each send a sample down a pipe, exec'ing themselves with
 * "report" first when `exec` is set. samples[0] is the parent's own, drawn after the forks. */
static int gather(struct sample *samples, int exec)
{
    int p[2];
    if (pipe(p))
        return 0;
    for (int i = 0; i < CHILDREN; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            if (exec) {
                char fd[16];
                snprintf(fd, sizeof fd, "%d", p[1]);
                execl("/proc/self/exe", "random_fresh", "report", fd, (char *)NULL);
                _exit(127);
            }
            struct sample s;
            take(&s);
            _exit(write(p[1], &s, sizeof s) == sizeof s ? 0 : 1);
        }
    }
    close(p[1]);
    take(&samples[0]);
    int got = 1;
    while (got <= CHILDREN && read(p[0], &samples[got], sizeof samples[got]) == sizeof samples[got])
        got++;
    close(p[0]);
    while (wait(NULL) > 0)
        ;
    return got == CHILDREN + 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "report")) {
        struct sample s;
        take(&s);
        return write(atoi(argv[2]), &s, sizeof s) == sizeof s ? 0 : 1;
    }
    struct sample forked[CHILDREN + 1], execd[CHILDREN + 1];
    check("fork_samples_gathered", gather(forked, 0));
    check("getrandom_differs_across_fork", all_distinct(forked, CHILDREN + 1, 0));
    check("exec_samples_gathered", gather(execd, 1));
    /* execd[0] is the parent: compare the exec'd children with each other and with it. */
    check("getrandom_and_at_random_differ_after_exec", all_distinct(execd, CHILDREN + 1, 1));
    return g_failures ? 1 : 0;
}
