/* execve of itself: argv and envp arrive as given, the pid stays, close-on-exec fds are
 * closed and the others kept, handled signals go back to their default while ignored
 * ones stay ignored, the blocked mask and pending signals survive, the alternate signal
 * stack and the old memory are gone, and /proc/self shows the new image.
 * argv[1] is the stage marker; stage 1 passes its pid and failure count along. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>

extern char **environ;

static void on_usr1(int sig) { (void)sig; }

/* A /proc file with NULs shown as '|', leaving out NUL-separated field `skip` (the pid). */
static void print_file(const char *name, const char *path, int skip)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    printf("%s:", name);
    int field = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (field != skip)
            putchar(buf[i] == 0 ? '|' : buf[i]);
        if (buf[i] == 0)
            field++;
    }
    printf("\n");
}

static int stage2(int argc, char **argv)
{
    g_failures = atoi(argv[3]);
    printf("argc: %d\n", argc);
    for (int i = 1; i < argc; i++)
        if (i != 2)
            printf("argv[%d]: [%s]\n", i, argv[i]);
    for (char **e = environ; *e; e++)
        printf("env: [%s]\n", *e);
    check("pid_unchanged", getpid() == atoi(argv[2]));
    checkf("keep_fd", fcntl(10, F_GETFD) == 0, "%d", fcntl(10, F_GETFD));
    expect_err("cloexec_fd_closed", fcntl(11, F_GETFD), EBADF);
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    check("handled_now_default", sa.sa_handler == SIG_DFL && sa.sa_flags == 0);
    sigaction(SIGUSR2, NULL, &sa);
    check("ignored_stays_ignored", sa.sa_handler == SIG_IGN);
    sigset_t set;
    sigprocmask(SIG_BLOCK, NULL, &set);
    check("mask_kept", sigismember(&set, SIGTERM) && !sigismember(&set, SIGUSR1));
    sigpending(&set);
    check("pending_kept", sigismember(&set, SIGTERM));
    stack_t ss;
    sigaltstack(NULL, &ss);
    check("altstack_cleared", ss.ss_flags == SS_DISABLE);
    char *old = (char *)strtoull(argv[4], NULL, 16);
    unsigned char vec;
    expect_err("old_mapping_gone", mincore(old, 4096, &vec), ENOMEM);
    print_file("comm", "/proc/self/comm", -1);
    print_file("cmdline", "/proc/self/cmdline", 2);
    return finish();
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "stage2") == 0)
        return stage2(argc, argv);
    int fd = open("/dev/null", O_RDONLY);
    expect_ok("dup_keep", dup2(fd, 10));
    expect_ok("dup_cloexec", fcntl(fd, F_DUPFD_CLOEXEC, 11));
    close(fd);
    struct sigaction sa = { .sa_handler = on_usr1 };
    expect_ok("handle_usr1", sigaction(SIGUSR1, &sa, NULL));
    expect_ok("ignore_usr2", signal(SIGUSR2, SIG_IGN) == SIG_ERR ? -1 : 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    expect_ok("block_term", sigprocmask(SIG_BLOCK, &set, NULL));
    expect_ok("raise_term", raise(SIGTERM));
    static char alt[65536];
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt };
    expect_ok("altstack", sigaltstack(&ss, NULL));
    /* A mapping far from anything the new image will use. */
    void *old = mmap((void *)0x200000000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check("old_mapping", old != MAP_FAILED);
    *(volatile char *)old = 1;
    char pid[32], failures[32], addr[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    snprintf(failures, sizeof failures, "%d", g_failures);
    snprintf(addr, sizeof addr, "%lx", (unsigned long)old);
    char *args[] = { argv[0], "stage2", pid, failures, addr, "two words", "", NULL };
    char *env[] = { "A=1", "EXEC_TEST=x y", "", NULL };
    fflush(stdout);
    execve(argv[0], args, env);
    printf("execve: %s FAIL\n", errname(errno));
    return 1;
}
