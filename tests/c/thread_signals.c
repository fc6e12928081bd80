/* Signals and threads: pthread_kill and tgkill reach the named thread, a process-
 * directed signal goes to the one thread that has it unblocked, sigwait/sigwaitinfo/
 * sigtimedwait in a thread, per-thread pending sets, a thread spinning in user code is
 * interrupted, a thread blocked in read() gets EINTR without SA_RESTART and is
 * restarted with it, synchronous SIGSEGV goes to the faulting thread, sigaltstack is
 * per thread. Handlers only record the tid they ran on; main prints. Every wait for a
 * signal gives up after 10 s, so a lost signal prints FAIL instead of hanging. */
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

static long tid(void) { return syscall(SYS_gettid); }

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to 10 s for *flag to become non-zero. */
static int wait_for(volatile long *flag)
{
    for (int i = 0; i < 10000; i++) {
        if (__atomic_load_n(flag, __ATOMIC_SEQ_CST))
            return 1;
        pause_ms(1);
    }
    return __atomic_load_n(flag, __ATOMIC_SEQ_CST) != 0;
}

static volatile long usr1_tid, usr2_tid, alrm_count, segv_tid;
static void on_usr1(int sig)
{
    (void)sig;
    __atomic_store_n(&usr1_tid, tid(), __ATOMIC_SEQ_CST);
}
static void on_usr2(int sig)
{
    (void)sig;
    __atomic_store_n(&usr2_tid, tid(), __ATOMIC_SEQ_CST);
}
static void on_alrm(int sig)
{
    (void)sig;
    __atomic_fetch_add(&alrm_count, 1, __ATOMIC_SEQ_CST);
}

static void handle(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* --- workers that sleep until released --- */
#define WORKERS 3
static sem_t release, ready;
static long worker_tids[WORKERS];
static volatile long unblock_index = -1;
static void *worker_fn(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    worker_tids[i] = tid();
    if ((long)i == unblock_index) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR2);
        pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    }
    sem_post(&ready);
    while (sem_wait(&release) != 0)
        ;
    return NULL;
}

/* --- sigwait family in a thread --- */
struct waited {
    long tid;
    int sigwait_sig;
    int info_sig, info_code, info_pid_ok, info_uid_ok;
    int queue_sig, queue_code, queue_value;
    int timed_ret, timed_err;
};
static void *sigwait_fn(void *p)
{
    struct waited *w = p;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    w->tid = tid();
    sem_post(&ready);
    sigwait(&s, &w->sigwait_sig);

    sem_post(&ready);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    w->info_sig = sigwaitinfo(&s, &si);
    w->info_code = si.si_code;
    w->info_pid_ok = si.si_pid == getpid();
    w->info_uid_ok = si.si_uid == getuid();

    sem_post(&ready);
    memset(&si, 0, sizeof si);
    w->queue_sig = sigwaitinfo(&s, &si);
    w->queue_code = si.si_code;
    w->queue_value = si.si_value.sival_int;

    struct timespec ts = {0, 20 * 1000000L};
    errno = 0;
    w->timed_ret = sigtimedwait(&s, &si, &ts);
    w->timed_err = errno;
    return NULL;
}

/* --- pending sets are per thread --- */
struct pending {
    int own_pending;
    int after_unblock_tid_ok;
};
static sem_t go_check;
static void *pending_fn(void *p)
{
    struct pending *pd = p;
    sem_post(&ready);
    while (sem_wait(&go_check) != 0)
        ;
    sigset_t s;
    sigpending(&s);
    pd->own_pending = sigismember(&s, SIGUSR1);
    usr1_tid = 0;
    sigset_t u;
    sigemptyset(&u);
    sigaddset(&u, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &u, NULL); /* delivered here, now */
    pd->after_unblock_tid_ok = usr1_tid == tid();
    return NULL;
}

/* --- a spinning thread --- */
static volatile long spin_started, spin_done, spin_give_up;
static volatile unsigned long spin_counter;
static long spinner_tid;
static void *spinner_fn(void *arg)
{
    (void)arg;
    spinner_tid = tid();
    spin_started = 1;
    /* No system call in this loop: only an interrupt can bring the signal in. */
    while (__atomic_load_n(&usr1_tid, __ATOMIC_RELAXED) == 0 && !spin_give_up)
        spin_counter++;
    spin_done = 1;
    return NULL;
}

/* --- read() on a pipe --- */
static int pipe_fds[2];
struct read_result {
    long ret;
    int err;
    char byte;
    volatile long done;
};
static void *reader_fn(void *p)
{
    struct read_result *r = p;
    errno = 0;
    r->ret = read(pipe_fds[0], &r->byte, 1);
    r->err = errno;
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* --- SIGSEGV in a thread --- */
static sigjmp_buf segv_jmp;
static int *volatile bad_pointer = (int *)16;
static void on_segv(int sig)
{
    (void)sig;
    segv_tid = tid();
    siglongjmp(segv_jmp, 1);
}
static volatile long segv_thread_tid, segv_recovered;
static void *segv_fn(void *arg)
{
    (void)arg;
    segv_thread_tid = tid();
    if (sigsetjmp(segv_jmp, 1) == 0) {
        *bad_pointer = 1;
        segv_recovered = -1;
    } else {
        segv_recovered = 1;
    }
    return NULL;
}

/* --- sigaltstack per thread --- */
static volatile uintptr_t handler_local;
static void on_xcpu(int sig)
{
    (void)sig;
    volatile char here = 0;
    handler_local = (uintptr_t)&here;
}
static void *altstack_fn(void *arg)
{
    (void)arg;
    static char alt[65536];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return (void *)0;
    handler_local = 0;
    pthread_kill(pthread_self(), SIGXCPU);
    int on_alt = handler_local >= (uintptr_t)alt && handler_local < (uintptr_t)alt + sizeof alt;
    return (void *)(uintptr_t)(on_alt ? 1 : 2);
}

int main(void)
{
    handle(SIGUSR1, on_usr1, SA_RESTART);
    handle(SIGUSR2, on_usr2, SA_RESTART);
    sem_init(&release, 0, 0);
    sem_init(&ready, 0, 0);

    /* SIGUSR2 (and SIGHUP for sigwait) blocked in main before any thread exists, so
     * every thread starts with them blocked. */
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR2);
    sigaddset(&blocked, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &blocked, NULL);

    unblock_index = 1;
    pthread_t w[WORKERS];
    for (uintptr_t i = 0; i < WORKERS; i++)
        pthread_create(&w[i], NULL, worker_fn, (void *)i);
    for (int i = 0; i < WORKERS; i++)
        sem_wait(&ready);

    /* pthread_kill reaches the named thread. */
    for (int i = 0; i < WORKERS; i++) {
        usr1_tid = 0;
        char name[48];
        snprintf(name, sizeof name, "pthread_kill_thread_%d", i);
        expect_rc(name, pthread_kill(w[i], SIGUSR1), 0);
        snprintf(name, sizeof name, "pthread_kill_thread_%d_handled_there", i);
        check(name, wait_for(&usr1_tid) && usr1_tid == worker_tids[i]);
    }
    expect_rc("pthread_kill_sig0", pthread_kill(w[0], 0), 0);

    /* tgkill and tkill. */
    usr1_tid = 0;
    expect_ok("tgkill", syscall(SYS_tgkill, getpid(), worker_tids[2], SIGUSR1));
    check("tgkill_handled_there", wait_for(&usr1_tid) && usr1_tid == worker_tids[2]);
    usr1_tid = 0;
    expect_ok("tkill", syscall(SYS_tkill, worker_tids[0], SIGUSR1));
    check("tkill_handled_there", wait_for(&usr1_tid) && usr1_tid == worker_tids[0]);
    expect_err("tgkill_wrong_tgid", syscall(SYS_tgkill, getpid() + 100000, worker_tids[0], SIGUSR1), ESRCH);
    expect_ok("tgkill_sig0", syscall(SYS_tgkill, getpid(), worker_tids[1], 0));
    usr1_tid = 0;
    expect_ok("tgkill_main", syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1));
    check("tgkill_main_handled_in_main", usr1_tid == getpid());

    /* A process-directed signal goes to the only thread with it unblocked. */
    usr2_tid = 0;
    expect_ok("kill_process", kill(getpid(), SIGUSR2));
    check("kill_process_went_to_unblocked_thread", wait_for(&usr2_tid) && usr2_tid == worker_tids[1]);

    for (int i = 0; i < WORKERS; i++)
        sem_post(&release);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);

    /* sigwait, sigwaitinfo and sigtimedwait in a thread; SIGHUP is blocked everywhere. */
    {
        struct waited wt;
        memset(&wt, 0, sizeof wt);
        pthread_t t;
        pthread_create(&t, NULL, sigwait_fn, &wt);
        sem_wait(&ready);
        kill(getpid(), SIGHUP);
        sem_wait(&ready);
        syscall(SYS_tgkill, getpid(), wt.tid, SIGHUP);
        sem_wait(&ready);
        union sigval v = {.sival_int = 42};
        sigqueue(getpid(), SIGHUP, v);
        pthread_join(t, NULL);
        checkf("sigwait", wt.sigwait_sig == SIGHUP, "%d", wt.sigwait_sig);
        checkf("sigwaitinfo", wt.info_sig == SIGHUP, "%d", wt.info_sig);
        checkf("sigwaitinfo_code", wt.info_code == SI_TKILL || wt.info_code == SI_USER, "%d", wt.info_code);
        check("sigwaitinfo_pid", wt.info_pid_ok);
        check("sigwaitinfo_uid", wt.info_uid_ok);
        checkf("sigwaitinfo_queued", wt.queue_sig == SIGHUP, "%d", wt.queue_sig);
        checkf("sigwaitinfo_queued_code", wt.queue_code == SI_QUEUE, "%s", wt.queue_code == SI_QUEUE ? "SI_QUEUE" : "other");
        checkf("sigwaitinfo_queued_value", wt.queue_value == 42, "%d", wt.queue_value);
        checkf("sigtimedwait_timeout", wt.timed_ret == -1 && wt.timed_err == EAGAIN, "%s",
               wt.timed_ret == -1 ? errname(wt.timed_err) : "returned");
        sigset_t p;
        sigpending(&p);
        check("nothing_left_pending", !sigismember(&p, SIGHUP));
    }

    /* A signal sent to a thread that blocks it stays pending in that thread only. */
    {
        sigset_t u;
        sigemptyset(&u);
        sigaddset(&u, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &u, NULL); /* the thread inherits it blocked */
        sem_init(&go_check, 0, 0);
        struct pending pd = {-1, 0};
        pthread_t t;
        pthread_create(&t, NULL, pending_fn, &pd);
        sem_wait(&ready);
        pthread_kill(t, SIGUSR1);
        sigset_t mine;
        sigpending(&mine);
        check("pending_not_in_main", !sigismember(&mine, SIGUSR1));
        sem_post(&go_check);
        pthread_join(t, NULL);
        check("pending_in_thread", pd.own_pending == 1);
        check("pending_delivered_on_unblock", pd.after_unblock_tid_ok);
        sigpending(&mine);
        check("pending_still_not_in_main", !sigismember(&mine, SIGUSR1));
        pthread_sigmask(SIG_UNBLOCK, &u, NULL);
    }

    /* A thread spinning in user code. */
    {
        usr1_tid = 0;
        pthread_t t;
        pthread_create(&t, NULL, spinner_fn, NULL);
        wait_for(&spin_started);
        while (spin_counter < 1000)
            ;
        pthread_kill(t, SIGUSR1);
        int done = wait_for(&spin_done);
        if (!done)
            spin_give_up = 1;
        pthread_join(t, NULL);
        check("spinning_thread_interrupted", done);
        check("spinning_thread_handler_there", usr1_tid == spinner_tid);
    }

    /* A thread blocked in read(): EINTR without SA_RESTART... */
    {
        pipe(pipe_fds);
        handle(SIGALRM, on_alrm, 0);
        struct read_result r = {0};
        pthread_t t;
        pthread_create(&t, NULL, reader_fn, &r);
        /* If a signal comes before the read starts, the next one interrupts it. */
        for (int i = 0; i < 500 && !__atomic_load_n(&r.done, __ATOMIC_SEQ_CST); i++) {
            pthread_kill(t, SIGALRM);
            pause_ms(20);
        }
        if (!r.done) {
            write(pipe_fds[1], "?", 1);
        }
        pthread_join(t, NULL);
        checkf("read_interrupted", r.ret == -1 && r.err == EINTR, "%s",
               r.ret == -1 ? errname(r.err) : "returned");

        /* ...and restarted with it: several signals, then data. */
        handle(SIGALRM, on_alrm, SA_RESTART);
        struct read_result r2 = {0};
        alrm_count = 0;
        pthread_create(&t, NULL, reader_fn, &r2);
        for (int i = 0; i < 500 && alrm_count < 3 && !r2.done; i++) {
            pthread_kill(t, SIGALRM);
            pause_ms(20);
        }
        int early = r2.done;
        write(pipe_fds[1], "x", 1);
        pthread_join(t, NULL);
        check("read_restart_signals_handled", alrm_count >= 3);
        check("read_restart_not_interrupted", !early);
        checkf("read_restarted", r2.ret == 1 && r2.byte == 'x', "%ld", r2.ret);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
    }

    /* SIGSEGV goes to the thread that faulted. */
    {
        handle(SIGSEGV, on_segv, SA_NODEFER);
        pthread_t t;
        pthread_create(&t, NULL, segv_fn, NULL);
        pthread_join(t, NULL);
        checkf("segv_in_thread_recovered", segv_recovered == 1, "%ld", segv_recovered);
        check("segv_in_thread_handled_there", segv_tid == segv_thread_tid);
        handle(SIGSEGV, SIG_DFL, 0);
    }

    /* sigaltstack belongs to the thread that set it. */
    {
        handle(SIGXCPU, on_xcpu, SA_ONSTACK);
        pthread_t t;
        void *v = NULL;
        pthread_create(&t, NULL, altstack_fn, NULL);
        pthread_join(t, &v);
        checkf("altstack_in_thread", (uintptr_t)v == 1, "%lu", (unsigned long)(uintptr_t)v);
        stack_t ss;
        sigaltstack(NULL, &ss);
        check("altstack_not_in_main", (ss.ss_flags & SS_DISABLE) != 0);
    }

    return finish();
}
