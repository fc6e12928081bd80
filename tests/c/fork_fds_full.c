/* fork with the descriptor table full up to RLIMIT_NOFILE but two: the child must get a
 * working process (the monitor's own descriptors never compete with the program's), and
 * EMFILE comes at exactly the program's own limit. */
#include "common.h"
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define LIMIT 100

/* Opens /dev/null until EMFILE; returns the last fd opened. */
static int fill_table(void)
{
    int last = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0)
        last = fd;
    checkf("fill_stops_with", errno == EMFILE, "%s", errname(errno));
    return last;
}

int main(void)
{
    struct rlimit lim;
    expect_ok("getrlimit", getrlimit(RLIMIT_NOFILE, &lim));
    lim.rlim_cur = LIMIT;
    expect_ok("setrlimit", setrlimit(RLIMIT_NOFILE, &lim));
    struct rlimit seen;
    getrlimit(RLIMIT_NOFILE, &seen);
    checkf("soft_limit", seen.rlim_cur == LIMIT, "%llu", (unsigned long long)seen.rlim_cur);
    fflush(stdout);

    int last = fill_table();
    checkf("last_fd", last == LIMIT - 1, "%d", last);
    expect_err("dup_at_limit", dup(0), EMFILE);
    expect_err("fcntl_dupfd_beyond", fcntl(0, F_DUPFD, LIMIT), EINVAL);
    expect_err("dup2_beyond", dup2(0, LIMIT), EBADF);
    close(last);
    close(last - 1);

    for (int round = 0; round < 3; round++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            int a = open("/dev/null", O_RDONLY);
            int b = open("/dev/null", O_RDONLY);
            int c = open("/dev/null", O_RDONLY);
            printf("child %d: opened %d %d, then %s\n", round, a, b, c < 0 ? errname(errno) : "more");
            fflush(stdout);
            _exit(a == LIMIT - 2 && b == LIMIT - 1 && c < 0 ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        checkf("child_exit", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d", status);
    }
    int again = open("/dev/null", O_RDONLY);
    checkf("parent_still_has_two", again == LIMIT - 2, "%d", again);
    return finish();
}
