/* Thread names: prctl(PR_SET_NAME) names the calling thread only; /proc/self/task/TID/comm,
 * stat and status show that thread's name and id (pthread_getname_np and
 * pthread_setname_np of another thread go through them); /proc/self/comm is the first
 * thread's; writing a comm file renames its thread (15 bytes kept, a newline included);
 * a write-only comm descriptor cannot be read, and other /proc files take no writes (root
 * opens them, and the write fails with EINVAL). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static long tid(void) { return syscall(SYS_gettid); }

static atomic_int worker_tid;
static atomic_int stop;

static void *worker(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "worker-a");
    atomic_store(&worker_tid, (int)tid());
    while (!atomic_load(&stop))
        usleep(1000);
    return NULL;
}

/* The whole content of a file, NUL-terminated, with newlines shown as '|'. */
static const char *slurp(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return errname(errno);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return errname(errno);
    buf[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = '|';
    return buf;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n < 0 ? -e : (int)n;
}

/* The value of "Key:" in a status file, as text. */
static const char *status_field(const char *path, const char *key)
{
    static char value[64];
    char *text = (char *)slurp(path);
    char *p = strstr(text, key);
    if (!p)
        return "missing";
    p += strlen(key);
    while (*p == '\t' || *p == ' ')
        p++;
    size_t n = strcspn(p, "|");
    snprintf(value, sizeof value, "%.*s", (int)n, p);
    return value;
}

int main(void)
{
    char main_name[16] = {0};
    prctl(PR_GET_NAME, main_name);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    while (!atomic_load(&worker_tid))
        usleep(1000);
    int w = atomic_load(&worker_tid);
    char path[128], buf[32];

    expect_rc("getname_other", pthread_getname_np(t, buf, sizeof buf), 0);
    checkf("other_name", strcmp(buf, "worker-a") == 0, "%s", buf);
    char self_name[16] = {0};
    prctl(PR_GET_NAME, self_name);
    check("own_name_unchanged", strcmp(self_name, main_name) == 0);
    char proc_comm[32];
    snprintf(proc_comm, sizeof proc_comm, "%s|", main_name);
    check("process_comm_is_first_threads", strcmp(slurp("/proc/self/comm"), proc_comm) == 0);

    snprintf(path, sizeof path, "/proc/self/task/%d/stat", w);
    const char *stat = slurp(path);
    char expect[64];
    snprintf(expect, sizeof expect, "%d (worker-a) ", w);
    check("task_stat_id_and_name", strncmp(stat, expect, strlen(expect)) == 0);
    snprintf(path, sizeof path, "/proc/self/task/%d/status", w);
    checkf("task_status_name", 1, "%s", status_field(path, "Name:"));
    check("task_status_pid", atoi(status_field(path, "|Pid:")) == w);
    check("task_status_tgid", atoi(status_field(path, "Tgid:")) == getpid());
    check("process_status_pid", atoi(status_field("/proc/self/status", "|Pid:")) == getpid());

    expect_rc("setname_other", pthread_setname_np(t, "renamed"), 0);
    expect_rc("getname_renamed", pthread_getname_np(t, buf, sizeof buf), 0);
    checkf("renamed", strcmp(buf, "renamed") == 0, "%s", buf);

    snprintf(path, sizeof path, "/proc/self/task/%d/comm", w);
    checkf("write_newline", 1, "%d", write_file(path, "nl\n"));
    checkf("read_newline", 1, "%s", slurp(path));
    checkf("write_long", 1, "%d", write_file(path, "abcdefghijklmnopqrstuvwxyz"));
    checkf("read_long", 1, "%s", slurp(path));

    checkf("write_process_comm", 1, "%d", write_file("/proc/self/comm", "main-renamed"));
    prctl(PR_GET_NAME, self_name);
    checkf("own_name_after_write", 1, "%s", self_name);
    checkf("process_comm_after_write", 1, "%s", slurp("/proc/self/comm"));

    int fd = open("/proc/self/comm", O_WRONLY);
    errno = 0;
    ssize_t n = read(fd, buf, sizeof buf);
    checkf("read_write_only_comm", n < 0, "%s", errname(errno));
    close(fd);
    checkf("open_status_for_writing", 1, "%d", write_file("/proc/self/status", "x"));

    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    return finish();
}
