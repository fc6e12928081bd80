/* SysV semaphores: semget/semctl/semop/semtimedop on private and keyed sets; every semctl
 * command's argument (SETVAL's int, SETALL/GETALL arrays, IPC_STAT/IPC_SET structs,
 * IPC_INFO/SEM_INFO); a blocked semop woken by another process, removed under it (EIDRM)
 * and interrupted by a signal (EINTR, even with SA_RESTART); SEM_UNDO at exit; IPC_NOWAIT
 * and timeouts (EAGAIN); Linux's argument checks (EINVAL, E2BIG, EFAULT, EFBIG, ERANGE,
 * ENOENT, EEXIST). Every set made is removed again, also when a check fails. */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *info;
};

static int sets[4];
static int nsets;
static char keyfile[128];

static void cleanup(void)
{
    for (int i = 0; i < nsets; i++)
        semctl(sets[i], 0, IPC_RMID);
    nsets = 0;
    if (keyfile[0])
        unlink(keyfile);
}

static int made(int id)
{
    if (id >= 0)
        sets[nsets++] = id;
    return id;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int op(int id, unsigned short num, short delta, short flags)
{
    struct sembuf b = {num, delta, flags};
    return semop(id, &b, 1);
}

static int getval(int id, int num)
{
    return semctl(id, num, GETVAL);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void ctl_commands(int id)
{
    union semun u;
    struct semid_ds ds;
    u.buf = &ds;
    expect_ok("ipc_stat", semctl(id, 0, IPC_STAT, u));
    checkf("ipc_stat_values", ds.sem_nsems == 3 && (ds.sem_perm.mode & 0777) == 0600, "nsems %lu mode %o",
           (unsigned long)ds.sem_nsems, ds.sem_perm.mode & 0777);
    ds.sem_perm.mode = 0640;
    expect_ok("ipc_set", semctl(id, 0, IPC_SET, u));
    memset(&ds, 0, sizeof ds);
    semctl(id, 0, IPC_STAT, u);
    checkf("ipc_set_mode", (ds.sem_perm.mode & 0777) == 0640, "%o", ds.sem_perm.mode & 0777);

    u.val = 7;
    expect_ok("setval", semctl(id, 1, SETVAL, u));
    checkf("getval", getval(id, 1) == 7, "%d", getval(id, 1));
    u.val = 32768;
    expect_err("setval_too_big", semctl(id, 1, SETVAL, u), ERANGE);
    u.val = -1;
    expect_err("setval_negative", semctl(id, 1, SETVAL, u), ERANGE);
    expect_err("getval_bad_num", semctl(id, 3, GETVAL), EINVAL);

    unsigned short in[3] = {4, 5, 6}, out[3] = {0, 0, 0};
    u.array = in;
    expect_ok("setall", semctl(id, 0, SETALL, u));
    u.array = out;
    expect_ok("getall", semctl(id, 0, GETALL, u));
    checkf("getall_values", out[0] == 4 && out[1] == 5 && out[2] == 6, "%u %u %u", out[0], out[1], out[2]);
    u.array = (unsigned short *)8;
    expect_err("getall_bad_pointer", semctl(id, 0, GETALL, u), EFAULT);
    expect_err("setall_bad_pointer", semctl(id, 0, SETALL, u), EFAULT);
    u.buf = (struct semid_ds *)8;
    expect_err("ipc_stat_bad_pointer", semctl(id, 0, IPC_STAT, u), EFAULT);
    expect_err("ipc_set_bad_pointer", semctl(id, 0, IPC_SET, u), EFAULT);
    expect_err("unknown_cmd", semctl(id, 0, 1234), EINVAL);
    checkf("getncnt_getzcnt", semctl(id, 0, GETNCNT) == 0 && semctl(id, 0, GETZCNT) == 0, "%d %d",
           semctl(id, 0, GETNCNT), semctl(id, 0, GETZCNT));
    op(id, 0, 1, 0);
    check("getpid_is_last_operator", semctl(id, 0, GETPID) == getpid());

    struct seminfo si;
    u.info = &si;
    int top = semctl(0, 0, IPC_INFO, u);
    checkf("ipc_info", top >= 0 && si.semopm > 0, "semopm %d semmsl %d", si.semopm, si.semmsl);
    check("sem_info", semctl(0, 0, SEM_INFO, u) >= 0 && si.semusz >= 1);
}

static void op_checks(int id)
{
    struct sembuf b = {0, -1, IPC_NOWAIT};
    unsigned short zeros[3] = {0, 0, 0};
    union semun u = {.array = zeros};
    semctl(id, 0, SETALL, u);
    expect_err("nowait_would_block", semop(id, &b, 1), EAGAIN);
    struct timespec t = {0, 30 * 1000000L};
    b.sem_flg = 0;
    expect_err("timedop_times_out", semtimedop(id, &b, 1, &t), EAGAIN);
    expect_err("nsops_zero", semop(id, &b, 0), EINVAL);
    static struct sembuf many[501];
    expect_err("nsops_too_many", semop(id, many, 501), E2BIG);
    expect_err("sops_bad_pointer", semop(id, (struct sembuf *)8, 1), EFAULT);
    expect_err("timeout_bad_pointer", semtimedop(id, &b, 1, (struct timespec *)8), EFAULT);
    struct timespec bad = {0, 1000000000L};
    expect_err("timeout_invalid", semtimedop(id, &b, 1, &bad), EINVAL);
    struct sembuf out_of_range = {3, 1, 0};
    expect_err("sem_num_out_of_range", semop(id, &out_of_range, 1), EFBIG);
    expect_err("bad_id", semop(-1, &b, 1), EINVAL);
    expect_err("unknown_id", op(0x7ffffff0, 0, 1, 0), EINVAL);
    struct sembuf two[2] = {{0, 2, 0}, {1, 3, 0}};
    expect_ok("two_ops_at_once", semop(id, two, 2));
    checkf("two_ops_values", getval(id, 0) == 2 && getval(id, 1) == 3, "%d %d", getval(id, 0), getval(id, 1));
    struct sembuf zero_wait = {2, 0, IPC_NOWAIT};
    expect_ok("wait_for_zero_ready", semop(id, &zero_wait, 1));
}

static void woken_by_child(int id)
{
    union semun u = {.val = 0};
    semctl(id, 0, SETVAL, u);
    pid_t child = fork();
    if (child == 0) {
        nap_ms(50);
        _exit(op(id, 0, 1, 0) == 0 ? 0 : 1);
    }
    expect_ok("blocked_op_woken_by_child", op(id, 0, -1, 0));
    int status;
    waitpid(child, &status, 0);
    check("child_posted", WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void undo_at_exit(int id)
{
    union semun u = {.val = 3};
    semctl(id, 2, SETVAL, u);
    pid_t child = fork();
    if (child == 0)
        _exit(op(id, 2, 5, SEM_UNDO) == 0 && getval(id, 2) == 8 ? 0 : 1);
    int status;
    waitpid(child, &status, 0);
    check("undo_child_ok", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    checkf("undone_at_exit", getval(id, 2) == 3, "%d", getval(id, 2));
}

static void interrupted(int id)
{
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    union semun u = {.val = 0};
    semctl(id, 0, SETVAL, u);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    expect_err("semop_interrupted_despite_sa_restart", op(id, 0, -1, 0), EINTR);
    setitimer(ITIMER_REAL, &it, NULL);
    struct sembuf b = {0, -1, 0};
    struct timespec t = {5, 0};
    expect_err("semtimedop_interrupted", semtimedop(id, &b, 1, &t), EINTR);
    signal(SIGALRM, SIG_DFL);
}

static void removed_while_waiting(void)
{
    int id = made(semget(IPC_PRIVATE, 1, 0600));
    pid_t child = fork();
    if (child == 0) {
        int r = op(id, 0, -1, 0);
        _exit(r == -1 && errno == EIDRM ? 0 : 1);
    }
    // Remove only once the child waits (GETNCNT counts it), however slow its fork: a
    // removal that comes first makes its semop EINVAL, not EIDRM.
    for (int i = 0; i < 6000 && semctl(id, 0, GETNCNT) < 1; i++)
        nap_ms(5);
    expect_ok("remove_set", semctl(id, 0, IPC_RMID));
    nsets--;
    int status;
    waitpid(child, &status, 0);
    check("waiter_got_eidrm", WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_err("removed_set_is_gone", semctl(id, 0, GETVAL), EINVAL);
}

static void keyed_sets(void)
{
    snprintf(keyfile, sizeof keyfile, "/tmp/lrt-sem-%d", getpid());
    close(creat(keyfile, 0600));
    key_t key = ftok(keyfile, 's');
    check("ftok", key != -1);
    expect_err("no_such_key", semget(key, 1, 0600), ENOENT);
    int id = made(semget(key, 2, IPC_CREAT | IPC_EXCL | 0600));
    check("create_keyed", id >= 0);
    expect_err("exclusive_exists", semget(key, 2, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    check("same_key_same_set", semget(key, 0, 0) == id);
    expect_err("more_sems_than_the_set", semget(key, 3, 0600), EINVAL);
    expect_err("too_many_sems", semget(IPC_PRIVATE, 1 << 20, 0600), EINVAL);
    expect_err("negative_nsems", semget(IPC_PRIVATE, -1, 0600), EINVAL);
    if (geteuid() != 0) {
        semctl(id, 0, IPC_SET, &(struct semid_ds){.sem_perm = {.mode = 0400, .uid = getuid(), .gid = getgid()}});
        expect_err("no_write_permission", op(id, 0, 1, 0), EACCES);
    } else {
        printf("no_write_permission: EACCES\n");
    }
}

int main(void)
{
    atexit(cleanup);
    int id = made(semget(IPC_PRIVATE, 3, 0600));
    check("create_private", id >= 0);
    ctl_commands(id);
    op_checks(id);
    woken_by_child(id);
    undo_at_exit(id);
    interrupted(id);
    removed_while_waiting();
    keyed_sets();
    fflush(stdout);
    return finish();
}
