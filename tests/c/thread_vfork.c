/* vfork (and posix_spawn) in a threaded program: while the vfork child runs, the parent's
 * other threads run on, as on Linux (the child waits for a byte one of them writes to a
 * pipe, and gives up after 5 s: exit status 1); what the child writes reaches the parent,
 * and what another thread writes to the same page meanwhile is not undone by it (the
 * child's writes come back as the bytes it changed, not whole pages); a fork by another
 * thread while the vfork child runs waits and then works; posix_spawn from several threads
 * at once; a plain fork inside a vfork child. Threads only record what they see; main prints, so the output order is fixed. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

extern char **environ;

static int pipe_fds[2];
/* One page that both the vfork child and another thread write to. */
static volatile unsigned char page[4096] __attribute__((aligned(4096)));
static atomic_int worker_wrote;

/* The other thread: after a moment, write its mark on the page, then a byte to the pipe. */
static void *marker(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    page[2048] = 0xb2;
    atomic_store(&worker_wrote, 1);
    if (write(pipe_fds[1], "x", 1) != 1)
        return (void *)1;
    return NULL;
}

/* In the vfork child: write, then wait up to 5 s for the marker thread's byte. */
static int child_waits_for_other_thread(void)
{
    page[0] = 0xa1;
    page[4095] = 0xa2;
    struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
    return poll(&p, 1, 5000) == 1 ? 0 : 1;
}

static void other_threads_run_during_vfork(void)
{
    if (pipe(pipe_fds) != 0) {
        check("pipe", 0);
        return;
    }
    page[1] = 0x11;
    page[2048] = 0x22;
    pthread_t t;
    pthread_create(&t, NULL, marker, NULL);
    pid_t pid = vfork();
    if (pid == 0)
        _exit(child_waits_for_other_thread());
    int status = -1;
    waitpid(pid, &status, 0);
    pthread_join(t, NULL);
    checkf("vfork_child_saw_other_thread", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    check("vfork_child_writes_seen", page[0] == 0xa1 && page[4095] == 0xa2);
    check("vfork_untouched_byte_kept", page[1] == 0x11);
    check("other_thread_write_kept", atomic_load(&worker_wrote) && page[2048] == 0xb2);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

/* A thread that forks while another thread's vfork child runs. */
static atomic_int fork_status = -1;
static void *forker(void *arg)
{
    (void)arg;
    usleep(20 * 1000);
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int status = 0;
    waitpid(pid, &status, 0);
    atomic_store(&fork_status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return NULL;
}

static void fork_during_vfork(void)
{
    pthread_t t;
    pthread_create(&t, NULL, forker, NULL);
    pid_t pid = vfork();
    if (pid == 0) {
        usleep(100 * 1000);
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    pthread_join(t, NULL);
    checkf("vfork_child_status", WIFEXITED(status) && WEXITSTATUS(status) == 3, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    checkf("fork_by_other_thread_status", atomic_load(&fork_status) == 7, "%d", atomic_load(&fork_status));
}

/* posix_spawn from several threads at once. */
#define SPAWNERS 4
static int spawn_status[SPAWNERS];
static void *spawner(void *arg)
{
    long i = (long)arg;
    char code[8];
    snprintf(code, sizeof code, "exit %ld", i + 10);
    char *argv[] = {"sh", "-c", code, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0) {
        spawn_status[i] = -2;
        return NULL;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    spawn_status[i] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return NULL;
}

static void spawns_from_threads(void)
{
    pthread_t t[SPAWNERS];
    for (long i = 0; i < SPAWNERS; i++)
        pthread_create(&t[i], NULL, spawner, (void *)i);
    for (int i = 0; i < SPAWNERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SPAWNERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "spawn_%d_status", i);
        checkf(name, spawn_status[i] == i + 10, "%d", spawn_status[i]);
    }
}

/* The same with a large mapping (the guest maps it in 2 MiB pages): the child's write and
 * another thread's write to the same 2 MiB both stay. */
static unsigned char *large;
static void *large_marker(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    large[3 * 1024 * 1024 + 100] = 0xc3;
    if (write(pipe_fds[1], "y", 1) != 1)
        return (void *)1;
    return NULL;
}

static void large_mapping_during_vfork(void)
{
    size_t size = 8 * 1024 * 1024, align = 2 * 1024 * 1024;
    unsigned char *region = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || pipe(pipe_fds) != 0) {
        check("large_setup", 0);
        return;
    }
    /* 2 MiB aligned, so that its blocks are whole 2 MiB pages. */
    large = (unsigned char *)(((uintptr_t)region + align - 1) & ~(uintptr_t)(align - 1));
    memset(large, 0x11, size);
    pthread_t t;
    pthread_create(&t, NULL, large_marker, NULL);
    pid_t pid = vfork();
    if (pid == 0) {
        large[3 * 1024 * 1024 + 50] = 0xd4;
        struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
        _exit(poll(&p, 1, 5000) == 1 ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    pthread_join(t, NULL);
    checkf("large_child_status", WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    check("large_child_write_seen", large[3 * 1024 * 1024 + 50] == 0xd4);
    check("large_other_thread_write_kept", large[3 * 1024 * 1024 + 100] == 0xc3);
    check("large_rest_unchanged", large[3 * 1024 * 1024 + 51] == 0x11 && large[0] == 0x11 && large[size - 1] == 0x11);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    munmap(region, size + align);
}

/* A plain fork inside a vfork child: the grandchild writes its memory freely (the pages the
 * vfork child kept read-only for its tracking are the grandchild's to write). */
static unsigned char scratch[64 * 1024];
static void fork_inside_vfork_child(void)
{
    pid_t pid = vfork();
    if (pid == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0) {
            for (size_t i = 0; i < sizeof scratch; i++)
                scratch[i] = (unsigned char)(i * 7);
            int sum = 0;
            for (size_t i = 0; i < sizeof scratch; i++)
                sum += scratch[i];
            _exit(sum == 64 * 1024 / 256 * (255 * 256 / 2) ? 5 : 6);
        }
        int status = 0;
        waitpid(grandchild, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 9);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    checkf("grandchild_status", WIFEXITED(status) && WEXITSTATUS(status) == 5, "%d",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
    other_threads_run_during_vfork();
    fork_during_vfork();
    spawns_from_threads();
    large_mapping_during_vfork();
    fork_inside_vfork_child();
    return finish();
}
