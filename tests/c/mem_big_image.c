/* A program image with segments of several MiB: read-only data and code that span whole
 * 2 MiB blocks (linuxrun loads those as 2 MiB pages). Every 64 KiB of the data must hold
 * its own value, the code there must run, the data must stay read-only, and changing the
 * protection of one page inside such a block must leave its neighbours as they were. A
 * forked child sees the same image. */
#include "common.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define CHUNK 65536
#define CHUNKS 96 /* 6 MiB */

/* 96 chunks of 64 KiB, chunk k filled with the byte k; and 6 MiB of `ret` instructions. */
__asm__(".pushsection .rodata\n"
        ".balign 4096\n"
        ".globl big_data\n"
        "big_data:\n"
        ".set chunk_value, 0\n"
        ".rept 96\n"
        ".fill 65536, 1, chunk_value\n"
        ".set chunk_value, chunk_value + 1\n"
        ".endr\n"
        ".popsection\n"
        ".pushsection .text\n"
        ".balign 4096\n"
        ".globl big_code\n"
        "big_code:\n"
        ".fill 6291456, 1, 0xc3\n"
        ".popsection\n");
extern const unsigned char big_data[];
extern const unsigned char big_code[];

static sigjmp_buf g_jump;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(g_jump, 1);
}

/* The first chunk whose bytes are not all its own value, or -1. */
static int first_bad_chunk(void)
{
    for (int k = 0; k < CHUNKS; k++)
        for (int i = 0; i < CHUNK; i += 509)
            if (big_data[k * CHUNK + i] != (unsigned char)k || big_data[k * CHUNK + CHUNK - 1] != (unsigned char)k)
                return k;
    return -1;
}

/* Call a `ret` at every 256 KiB of the code. */
static int code_runs(void)
{
    for (long off = 0; off < (long)CHUNKS * CHUNK; off += 4 * CHUNK) {
        void (*fn)(void) = (void (*)(void))(big_code + off + 17);
        fn();
    }
    return 1;
}

static int write_faults(volatile unsigned char *p)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, &old);
    int faulted = 0;
    if (sigsetjmp(g_jump, 1) == 0)
        *p = 1;
    else
        faulted = 1;
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

int main(void)
{
    int bad = first_bad_chunk();
    checkf("data_in_place", bad < 0, "first bad chunk %d", bad);
    check("code_runs", code_runs());
    check("data_read_only", write_faults((volatile unsigned char *)&big_data[3 * 1024 * 1024 + 100]));

    /* One page in the middle made writable: it takes the write, the rest stays as it was. */
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char *page = (unsigned char *)(((unsigned long)big_data + 3 * 1024 * 1024) & ~(unsigned long)(pg - 1));
    int k = (int)((page - big_data) / CHUNK);
    check("mprotect_one_page", mprotect(page, pg, PROT_READ | PROT_WRITE) == 0);
    page[10] = 0xee;
    checkf("page_written", page[10] == 0xee && page[11] == (unsigned char)k, "%d", page[11]);
    check("neighbour_still_read_only", write_faults(page + pg));
    page[10] = (unsigned char)k;
    mprotect(page, pg, PROT_READ);
    check("page_read_only_again", write_faults(page + 10));
    bad = first_bad_chunk();
    checkf("data_after_mprotect", bad < 0, "first bad chunk %d", bad);
    check("code_runs_after_mprotect", code_runs());

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(first_bad_chunk() < 0 && code_runs() ? 0 : 1);
    int st = 0;
    waitpid(pid, &st, 0);
    checkf("child_sees_image", WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    return finish();
}
