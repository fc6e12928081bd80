/* Credentials are per thread at the system-call level: a thread that changes its
 * effective ids with the raw call (not the C library's setuid, which changes every
 * thread) acts with them, and the other threads keep theirs. Checked both ways: a second
 * thread drops to nobody while the first stays root, then the first drops while the
 * second (started before) stays root. Each side creates a file (its owner shows whose
 * ids the host used) and opens a root-only file. Run as another user, the drops fail
 * with EPERM on both sides alike. Last, a thread that dropped its ids execs: the new
 * program keeps that thread's ids (its saved ids made the effective ones), not the first
 * thread's. */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NOBODY 65534

static char dir[64];
static pthread_barrier_t step;

static void probe(const char *who)
{
    char path[256];
    long euid = syscall(SYS_geteuid), egid = syscall(SYS_getegid);
    uid_t r, e, s;
    syscall(SYS_getresuid, &r, &e, &s);
    printf("%s: euid %ld egid %ld resuid %u %u %u fsuid %ld\n", who, euid, egid, r, e, s, syscall(SYS_setfsuid, -1));
    snprintf(path, sizeof path, "%s/by_%s", dir, who);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) {
        struct stat st;
        fstat(fd, &st);
        printf("%s: created owner %u:%u\n", who, st.st_uid, st.st_gid);
        close(fd);
    } else {
        printf("%s: create %s\n", who, errname(errno));
    }
    snprintf(path, sizeof path, "%s/secret", dir);
    fd = open(path, O_RDONLY);
    printf("%s: open secret %s\n", who, fd >= 0 ? "ok" : errname(errno));
    if (fd >= 0)
        close(fd);
    /* /proc/PID/status shows the first thread's ids, a thread's own status file its own. */
    const char *files[] = {"/proc/self/status", "/proc/thread-self/status"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Gid:", 4) == 0)
                printf("%s: %s %s", who, files[i], line);
        if (f)
            fclose(f);
    }
}

/* The raw calls: this thread only. Group first, while the thread still may. */
static void drop_this_thread(const char *who)
{
    long g = syscall(SYS_setresgid, -1, NOBODY, -1);
    long u = syscall(SYS_setresuid, -1, NOBODY, -1);
    printf("%s: drop gid %s uid %s\n", who, g == 0 ? "ok" : errname(errno), u == 0 ? "ok" : errname(errno));
}

static void restore_this_thread(const char *who)
{
    long u = syscall(SYS_setresuid, -1, 0, -1);
    long g = syscall(SYS_setresgid, -1, 0, -1);
    printf("%s: restore uid %s gid %s\n", who, u == 0 ? "ok" : errname(errno), g == 0 ? "ok" : errname(errno));
}

static void *second(void *arg)
{
    (void)arg;
    /* Round 1: this thread drops, the first keeps root. */
    drop_this_thread("second");
    probe("second_dropped");
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step); /* the first probes */
    restore_this_thread("second");
    pthread_barrier_wait(&step);
    /* Round 2: the first drops; this thread keeps root. */
    pthread_barrier_wait(&step);
    probe("second_kept");
    pthread_barrier_wait(&step);
    return NULL;
}

static void *drop_and_exec(void *arg)
{
    char **argv = arg;
    drop_this_thread("exec_thread");
    char *args[] = {argv[0], "after-exec", dir, NULL};
    execv("/proc/self/exe", args);
    printf("exec_thread: execv %s\n", errname(errno));
    _exit(1);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0) {
        strcpy(dir, argv[2]);
        probe("exec_after");
        return 0;
    }
    strcpy(dir, make_tmpdir());
    chmod(dir, 0777);
    char path[256];
    snprintf(path, sizeof path, "%s/secret", dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    pthread_barrier_init(&step, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, second, NULL);
    pthread_barrier_wait(&step); /* the second dropped */
    probe("first_kept");
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step); /* the second restored */
    drop_this_thread("first");
    probe("first_dropped");
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step); /* the second probed */
    pthread_join(t, NULL);
    restore_this_thread("first");
    probe("first_restored");
    /* exec from a thread that dropped its ids, in a child (the first thread keeps root). */
    pid_t c = fork();
    if (c == 0) {
        pthread_create(&t, NULL, drop_and_exec, argv);
        pthread_join(t, NULL);
        _exit(2);
    }
    int st = 0;
    waitpid(c, &st, 0);
    printf("exec child: status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* A thread started now has its creator's ids (the C library's calls then reach
     * every thread, here one). */
    rm_tmpdir();
    return finish();
}
