/* SysV message queues: msgget/msgsnd/msgrcv/msgctl. Message types (first, exact, lowest
 * up to |type|, MSG_EXCEPT), MSG_NOERROR and E2BIG, IPC_NOWAIT (EAGAIN, ENOMSG), a blocked
 * msgrcv woken by another process and removed under it (EIDRM), a signal interrupting it
 * (EINTR), IPC_STAT/IPC_SET/IPC_INFO/MSG_INFO, and the argument checks (EINVAL, EFAULT,
 * ENOENT, EEXIST). Every queue made is removed again, also when a check fails. */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

struct msg {
    long mtype;
    char mtext[64];
};

static int queues[4];
static int nqueues;
static char keyfile[128];

static void cleanup(void)
{
    for (int i = 0; i < nqueues; i++)
        msgctl(queues[i], IPC_RMID, NULL);
    nqueues = 0;
    if (keyfile[0])
        unlink(keyfile);
}

static int made(int id)
{
    if (id >= 0)
        queues[nqueues++] = id;
    return id;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int send(int id, long type, const char *text)
{
    struct msg m = {.mtype = type};
    strcpy(m.mtext, text);
    return msgsnd(id, &m, strlen(text) + 1, IPC_NOWAIT);
}

/* Receive and print "type text" or the errno. */
static void recv_show(const char *name, int id, long type, int flags)
{
    struct msg m;
    memset(&m, 0, sizeof m);
    errno = 0;
    ssize_t n = msgrcv(id, &m, sizeof m.mtext, type, flags | IPC_NOWAIT);
    if (n < 0)
        printf("%s: %s\n", name, errname(errno));
    else
        printf("%s: type %ld len %zd text %s\n", name, m.mtype, n, m.mtext);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void types(int id)
{
    send(id, 3, "three");
    send(id, 1, "one");
    send(id, 2, "two");
    send(id, 1, "one-again");
    struct msqid_ds ds;
    expect_ok("ipc_stat", msgctl(id, IPC_STAT, &ds));
    checkf("stat_counts", ds.msg_qnum == 4, "qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes);
    check("stat_lspid", ds.msg_lspid == getpid());
    recv_show("type_2_exact", id, 2, 0);
    recv_show("type_minus_2_lowest", id, -2, 0);
    recv_show("except_1", id, 1, MSG_EXCEPT);
    recv_show("first_any", id, 0, 0);
    recv_show("empty_nowait", id, 0, 0);
    recv_show("no_such_type", id, 9, 0);
}

static void sizes(int id)
{
    send(id, 5, "a long message text");
    struct msg m;
    expect_err("too_big_for_buffer", msgrcv(id, &m, 4, 0, IPC_NOWAIT), E2BIG);
    memset(&m, 0, sizeof m);
    ssize_t n = msgrcv(id, &m, 4, 0, IPC_NOWAIT | MSG_NOERROR);
    checkf("noerror_truncates", n == 4 && memcmp(m.mtext, "a lo", 4) == 0, "len %zd", n);
    struct msg zero = {.mtype = 1};
    expect_ok("empty_message", msgsnd(id, &zero, 0, 0));
    checkf("empty_received", msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT) == 0, "ok");
    static struct {
        long mtype;
        char mtext[9000];
    } big = {.mtype = 1};
    expect_err("bigger_than_msgmax", msgsnd(id, &big, 9000, 0), EINVAL);
    zero.mtype = 0;
    expect_err("type_zero", msgsnd(id, &zero, 1, 0), EINVAL);
    zero.mtype = 1;
    expect_err("negative_size", msgsnd(id, &zero, (size_t)-1, 0), EINVAL);
    expect_err("send_bad_pointer", msgsnd(id, (void *)8, 1, 0), EFAULT);
    send(id, 7, "x");
    expect_err("receive_bad_pointer", msgrcv(id, (void *)8, 16, 0, IPC_NOWAIT), EFAULT);
    recv_show("lost_after_efault", id, 0, 0);
    expect_err("receive_bad_id", msgrcv(-1, &m, 16, 0, IPC_NOWAIT), EINVAL);
    expect_err("send_unknown_id", send(0x7ffffff0, 1, "x"), EINVAL);
    expect_err("receive_negative_size", msgrcv(id, &m, (size_t)-1, 0, IPC_NOWAIT), EINVAL);
}

static void ctl(int id)
{
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    ds.msg_perm.mode = 0640;
    ds.msg_qbytes = 4096;
    expect_ok("ipc_set", msgctl(id, IPC_SET, &ds));
    memset(&ds, 0, sizeof ds);
    msgctl(id, IPC_STAT, &ds);
    checkf("ipc_set_values", (ds.msg_perm.mode & 0777) == 0640 && ds.msg_qbytes == 4096, "mode %o qbytes %lu",
           ds.msg_perm.mode & 0777, (unsigned long)ds.msg_qbytes);
    expect_err("stat_bad_pointer", msgctl(id, IPC_STAT, (struct msqid_ds *)8), EFAULT);
    expect_err("set_bad_pointer", msgctl(id, IPC_SET, (struct msqid_ds *)8), EFAULT);
    expect_err("unknown_cmd", msgctl(id, 1234, &ds), EINVAL);
    struct msginfo mi;
    check("ipc_info", msgctl(0, IPC_INFO, (struct msqid_ds *)&mi) >= 0);
    checkf("msgmax", mi.msgmax > 0, "%d", mi.msgmax);
    check("msg_info", msgctl(0, MSG_INFO, (struct msqid_ds *)&mi) >= 0 && mi.msgpool >= 1);
    expect_err("stat_unknown_id", msgctl(0x7ffffff0, IPC_STAT, &ds), EINVAL);
}

static void blocking(void)
{
    int id = made(msgget(IPC_PRIVATE, 0600));
    pid_t child = fork();
    if (child == 0) {
        nap_ms(50);
        _exit(send(id, 4, "from child") == 0 ? 0 : 1);
    }
    struct msg m;
    memset(&m, 0, sizeof m);
    ssize_t n = msgrcv(id, &m, sizeof m.mtext, 0, 0);
    checkf("woken_by_child", n > 0, "type %ld %s", m.mtype, m.mtext);
    int status;
    waitpid(child, &status, 0);

    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    expect_err("interrupted_despite_sa_restart", msgrcv(id, &m, sizeof m.mtext, 0, 0), EINTR);
    signal(SIGALRM, SIG_DFL);

    // The child says when it is about to wait, so that a slow fork (a loaded machine)
    // cannot make the removal come first (then msgrcv is EINVAL, not EIDRM).
    int ready[2];
    if (pipe(ready) != 0)
        return;
    child = fork();
    if (child == 0) {
        close(ready[0]);
        close(ready[1]);
        int r = msgrcv(id, &m, sizeof m.mtext, 0, 0);
        _exit(r == -1 && errno == EIDRM ? 0 : 1);
    }
    close(ready[1]);
    char byte;
    (void)read(ready[0], &byte, 1); // EOF: the child closed its end, just before msgrcv
    close(ready[0]);
    nap_ms(50);
    expect_ok("remove_queue", msgctl(id, IPC_RMID, NULL));
    nqueues--;
    waitpid(child, &status, 0);
    check("waiter_got_eidrm", WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void keyed(void)
{
    snprintf(keyfile, sizeof keyfile, "/tmp/lrt-msg-%d", getpid());
    close(creat(keyfile, 0600));
    key_t key = ftok(keyfile, 'm');
    expect_err("no_such_key", msgget(key, 0600), ENOENT);
    int id = made(msgget(key, IPC_CREAT | IPC_EXCL | 0600));
    check("create_keyed", id >= 0);
    expect_err("exclusive_exists", msgget(key, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    check("same_key_same_queue", msgget(key, 0) == id);
}

int main(void)
{
    atexit(cleanup);
    int id = made(msgget(IPC_PRIVATE, 0600));
    check("create_private", id >= 0);
    types(id);
    sizes(id);
    ctl(id);
    blocking();
    keyed();
    fflush(stdout);
    return finish();
}
