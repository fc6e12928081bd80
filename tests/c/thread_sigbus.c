/* A thread other than the first touches a MAP_SHARED file mapping past its file's end
 * (the file was truncated after the page was touched): Linux gives that thread a SIGBUS
 * (BUS_ADRERR, si_addr the byte), which its handler takes, and the program goes on; with
 * the default action the whole process dies of SIGBUS. */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096UL

static __thread sigjmp_buf t_jmp;
static __thread volatile int t_sig, t_code;
static __thread void *volatile t_addr;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    t_sig = sig;
    t_code = si->si_code;
    t_addr = si->si_addr;
    siglongjmp(t_jmp, 1);
}

static char *g_map;
static int g_fd;

/* The signal reading *p raises in this thread (0: none). */
static int read_signal(volatile char *p)
{
    t_sig = 0;
    if (sigsetjmp(t_jmp, 1) == 0)
        (void)*p;
    return t_sig;
}

static void *truncating_thread(void *arg)
{
    (void)arg;
    /* Touched while the file covers it, so the page is mapped; then cut off. */
    check("thread_touch_before", g_map[PG] == 'b');
    expect_ok("thread_truncate", ftruncate(g_fd, PG));
    int sig = read_signal(g_map + PG + 8);
    checkf("thread_past_end_sigbus", sig == SIGBUS && t_code == BUS_ADRERR && t_addr == g_map + PG + 8, "%d/%d",
           sig, t_code);
    check("thread_first_page_still_there", g_map[0] == 'a');
    return NULL;
}

static void *dying_thread(void *arg)
{
    (void)arg;
    ftruncate(g_fd, 0);
    (void)*(volatile char *)g_map;
    return NULL;
}

static void map_file(const char *path)
{
    g_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    expect_ok("grow", ftruncate(g_fd, 2 * PG));
    g_map = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, g_fd, 0);
    check("mmap", g_map != MAP_FAILED);
    g_map[0] = 'a';
    g_map[PG] = 'b';
}

int main(void)
{
    const char *dir = make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    map_file(path);
    pthread_t t;
    pthread_create(&t, NULL, truncating_thread, NULL);
    pthread_join(t, NULL);
    check("main_after_thread", g_map[0] == 'a');
    munmap(g_map, 2 * PG);
    close(g_fd);

    /* Default action, in a child: the process dies of SIGBUS. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        map_file(path);
        (void)*(volatile char *)g_map;
        pthread_create(&t, NULL, dying_thread, NULL);
        pthread_join(t, NULL);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    checkf("default_kills_process", WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "%d",
           WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    rm_tmpdir();
    return finish();
}
