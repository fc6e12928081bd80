/* A MAP_SHARED file mapping past the end of its file: a touch there is SIGBUS
 * (BUS_ADRERR, the exact address) to the program's handler, and the pages become the
 * file's once it grows, as on Linux. */
#include "common.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#define PAGE 4096

static sigjmp_buf g_jump;
static volatile int g_code;
static volatile char *volatile g_addr;

static void on_bus(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    g_code = si->si_code;
    g_addr = si->si_addr;
    siglongjmp(g_jump, 1);
}

static char *g_map;

/* Reads (or writes) the byte at offset `off` of the mapping; prints what happened. */
static void touch(const char *name, size_t off, int write)
{
    g_code = 0;
    g_addr = NULL;
    if (sigsetjmp(g_jump, 1) == 0) {
        if (write)
            g_map[off] = 'w';
        int v = ((volatile char *)g_map)[off];
        printf("%s: read %d\n", name, v);
    } else {
        long at = (long)((char *)g_addr - g_map);
        printf("%s: SIGBUS code %d at offset %ld\n", name, g_code, at);
    }
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    expect_ok("sigaction", sigaction(SIGBUS, &sa, NULL));

    const char *dir = make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    expect_ok("size_one_page_and_a_bit", ftruncate(fd, PAGE + 100));
    g_map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check("mmap", g_map != MAP_FAILED);

    touch("first_page", 10, 1);
    touch("last_partial_page_tail", PAGE + 200, 0);
    touch("past_end", 2 * PAGE + 5, 0);
    touch("past_end_write", 3 * PAGE + 7, 1);

    /* The file grows: the same pages are now the file's. */
    expect_ok("grow", ftruncate(fd, 3 * PAGE));
    touch("grown_page", 2 * PAGE + 5, 1);
    char back = 0;
    expect_ok("pread_grown", pread(fd, &back, 1, 2 * PAGE + 5));
    checkf("write_reached_file", back == 'w', "%c", back);
    expect_ok("pwrite_grows", pwrite(fd, "grown", 5, 3 * PAGE + 1));
    touch("grown_by_write", 3 * PAGE + 1, 0);
    touch("grown_page_tail", 4 * PAGE - 1, 0);

    /* The file shrinks under pages the program has touched: SIGBUS there too. */
    expect_ok("shrink", ftruncate(fd, PAGE));
    touch("touched_page_now_past_end", 2 * PAGE + 9, 0);
    touch("touched_page_now_past_end_write", PAGE + 3, 1);
    touch("touched_tail_page_now_past_end", 4 * PAGE - 1, 0);
    expect_ok("regrow", ftruncate(fd, 4 * PAGE));
    touch("regrown_page", 2 * PAGE + 9, 0);
    touch("regrown_page_write", PAGE + 3, 1);

    /* Still usable after all those signals. */
    touch("first_page_again", 10, 0);
    munmap(g_map, 4 * PAGE);
    close(fd);
    rm_tmpdir();
    return finish();
}
