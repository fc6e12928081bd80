/* The legacy vsyscall page that programs built against old C libraries call:
 * gettimeofday at 0xffffffffff600000, time at +0x400, getcpu at +0x800 (Linux emulates
 * them, vsyscall=xonly); /proc/self/maps lists the page; a call into the middle of it, or
 * with a pointer the program cannot write, is a SIGSEGV. */
#include "common.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#define VSYSCALL 0xffffffffff600000UL

typedef long (*gtod_fn)(struct timeval *, void *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static void die_in_child(const char *name, void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    checkf(name, WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "%s",
           WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited");
}

static void misaligned(void) { ((time_fn)(VSYSCALL + 0x100))(NULL); }
static void unwritable(void) { ((time_fn)(VSYSCALL + 0x400))((long *)8); }

int main(void)
{
    long t = 0;
    long r = ((time_fn)(VSYSCALL + 0x400))(&t);
    long now = syscall(SYS_time, NULL);
    checkf("time", r == t && r <= now && now - r < 5, "");
    checkf("time_null", ((time_fn)(VSYSCALL + 0x400))(NULL) > 0, "");
    struct timeval tv;
    struct timezone tz = {99, 99};
    r = ((gtod_fn)VSYSCALL)(&tv, &tz);
    checkf("gettimeofday", r == 0 && tv.tv_sec >= now && tv.tv_sec - now < 5 && tv.tv_usec < 1000000, "");
    unsigned cpu = 99, node = 99;
    r = ((getcpu_fn)(VSYSCALL + 0x800))(&cpu, &node, NULL);
    checkf("getcpu", r == 0 && cpu < (unsigned)sysconf(_SC_NPROCESSORS_CONF) && node == 0, "");
    FILE *f = fopen("/proc/self/maps", "r");
    char line[256], last[256] = "";
    while (f && fgets(line, sizeof line, f))
        strcpy(last, line);
    if (f)
        fclose(f);
    printf("maps last: %s", last);
    die_in_child("misaligned_entry", misaligned);
    die_in_child("unwritable_pointer", unwritable);
    return finish();
}
