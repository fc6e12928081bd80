/* SysV shared memory: shmget/shmctl/shmat/shmdt. A segment seen by a forked child and by
 * two attachments of one process, SHM_RDONLY (a write is SIGSEGV), attaching at a chosen
 * address (SHM_RND, SHM_REMAP, EINVAL over a mapping), shmdt (EINVAL elsewhere), nattch
 * through IPC_STAT, IPC_RMID while attached, IPC_SET/IPC_INFO/SHM_INFO, detach at exec
 * and exit, and the argument checks. Every segment made is removed again. */
#include "common.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

static int segs[4];
static int nsegs;
static char keyfile[128];

static void cleanup(void)
{
    for (int i = 0; i < nsegs; i++)
        shmctl(segs[i], IPC_RMID, NULL);
    nsegs = 0;
    if (keyfile[0])
        unlink(keyfile);
}

static int made(int id)
{
    if (id >= 0)
        segs[nsegs++] = id;
    return id;
}

static long nattch(int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) != 0)
        return -1;
    return (long)ds.shm_nattch;
}

static sigjmp_buf jump;
static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(jump, 1);
}

static void basics(int id)
{
    struct shmid_ds ds;
    expect_ok("ipc_stat", shmctl(id, IPC_STAT, &ds));
    checkf("stat_values", ds.shm_segsz == 10000 && ds.shm_nattch == 0 && (ds.shm_perm.mode & 0777) == 0600,
           "size %zu nattch %lu mode %o", ds.shm_segsz, (unsigned long)ds.shm_nattch, ds.shm_perm.mode & 0777);
    char *a = shmat(id, NULL, 0);
    check("attach", a != (void *)-1);
    check("starts_zeroed", a[0] == 0 && a[9999] == 0);
    strcpy(a, "hello");
    a[9999] = 'z';
    a[12287] = 'p'; /* the rest of the last page is mapped too */
    char *b = shmat(id, NULL, SHM_RDONLY);
    check("second_attach", b != (void *)-1 && b != a);
    checkf("second_sees_first", strcmp(b, "hello") == 0 && b[9999] == 'z', "%s", b);
    checkf("nattch_two", nattch(id) == 2, "%ld", nattch(id));
    check("cpid_is_self", shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_cpid == getpid() && ds.shm_lpid == getpid());

    struct sigaction sa = {.sa_handler = on_segv};
    sigaction(SIGSEGV, &sa, NULL);
    int faulted = 0;
    if (sigsetjmp(jump, 1) == 0)
        *(volatile char *)b = 'x';
    else
        faulted = 1;
    check("readonly_write_faults", faulted);
    signal(SIGSEGV, SIG_DFL);

    pid_t child = fork();
    if (child == 0) {
        int ok = strcmp(a, "hello") == 0 && nattch(id) == 4;
        strcpy(a + 100, "from child");
        _exit(ok ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    check("child_inherits_attachments", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    checkf("child_write_seen", strcmp(a + 100, "from child") == 0, "%s", a + 100);
    checkf("nattch_after_child_exit", nattch(id) == 2, "%ld", nattch(id));

    expect_ok("detach_second", shmdt(b));
    checkf("nattch_one", nattch(id) == 1, "%ld", nattch(id));
    expect_err("detach_again", shmdt(b), EINVAL);
    expect_err("detach_inside", shmdt(a + 4096), EINVAL);
    expect_err("detach_unaligned", shmdt(a + 1), EINVAL);
    expect_err("detach_anonymous", shmdt(&ds), EINVAL);
    expect_ok("detach_first", shmdt(a));
    checkf("nattch_zero", nattch(id) == 0, "%ld", nattch(id));
}

static void placement(int id)
{
    char *area = mmap(NULL, 5 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(area, 5 * 4096);
    char *a = shmat(id, area, 0);
    check("attach_at_address", a == area);
    checkf("contents_kept", strcmp(a, "hello") == 0, "%s", a);
    shmdt(a);
    a = shmat(id, area + 1, SHM_RND);
    check("attach_rounded_down", a == area);
    shmdt(a);
    expect_err("attach_unaligned", shmat(id, area + 1, 0), EINVAL);
    char *m = mmap(area, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect_err("attach_over_mapping", shmat(id, area, 0), EINVAL);
    a = shmat(id, area, SHM_REMAP);
    check("remap_over_mapping", a == area && strcmp(a, "hello") == 0);
    shmdt(a);
    (void)m;
    expect_err("remap_needs_address", shmat(id, NULL, SHM_REMAP), EINVAL);
    expect_err("attach_bad_id", shmat(-1, NULL, 0), EINVAL);
    expect_err("attach_unknown_id", shmat(0x7ffffff0, NULL, 0), EINVAL);
}

static void ctl_and_removal(int id)
{
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    ds.shm_perm.mode = 0640;
    expect_ok("ipc_set", shmctl(id, IPC_SET, &ds));
    checkf("ipc_set_mode", shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0640, "%o",
           ds.shm_perm.mode & 0777);
    expect_err("stat_bad_pointer", shmctl(id, IPC_STAT, (struct shmid_ds *)8), EFAULT);
    expect_err("set_bad_pointer", shmctl(id, IPC_SET, (struct shmid_ds *)8), EFAULT);
    expect_err("unknown_cmd", shmctl(id, 1234, &ds), EINVAL);
    struct shminfo si;
    check("ipc_info", shmctl(0, IPC_INFO, (struct shmid_ds *)&si) >= 0 && si.shmmni > 0);
    struct shm_info sinfo;
    check("shm_info", shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo) >= 0 && sinfo.used_ids >= 1);

    char *a = shmat(id, NULL, 0);
    expect_ok("remove_while_attached", shmctl(id, IPC_RMID, NULL));
    check("still_usable", strcmp(a, "hello") == 0);
    checkf("marked_for_removal", shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST), "nattch %lu",
           (unsigned long)ds.shm_nattch);
    shmdt(a);
    expect_err("gone_after_last_detach", shmctl(id, IPC_STAT, &ds), EINVAL);
    nsegs--;
}

static void exec_detaches(void)
{
    int id = made(shmget(IPC_PRIVATE, 4096, 0600));
    char *a = shmat(id, NULL, 0);
    (void)a;
    pid_t child = fork();
    if (child == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    checkf("exec_detached", WIFEXITED(status) && nattch(id) == 1, "nattch %ld", nattch(id));
}

static void gets(void)
{
    snprintf(keyfile, sizeof keyfile, "/tmp/lrt-shm-%d", getpid());
    close(creat(keyfile, 0600));
    key_t key = ftok(keyfile, 'h');
    expect_err("no_such_key", shmget(key, 4096, 0600), ENOENT);
    int id = made(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
    check("create_keyed", id >= 0);
    expect_err("exclusive_exists", shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    check("same_key_same_segment", shmget(key, 0, 0) == id);
    expect_err("bigger_than_segment", shmget(key, 8192, 0600), EINVAL);
    expect_err("size_zero", shmget(IPC_PRIVATE, 0, 0600), EINVAL);
}

int main(void)
{
    atexit(cleanup);
    int id = made(shmget(IPC_PRIVATE, 10000, 0600));
    check("create_private", id >= 0);
    basics(id);
    placement(id);
    ctl_and_removal(id);
    exec_detaches();
    gets();
    fflush(stdout);
    return finish();
}
