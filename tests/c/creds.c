/* Credentials: setuid & co., setgroups/getgroups, setfsuid, capget/capset and the
 * keep-capabilities flag, with Linux's errnos, as root and after a drop to nobody
 * (65534/65534) in a child: files it creates are nobody's, a root-only file is refused,
 * its own fork keeps the ids, and a program it executes sees them in /proc/self/status.
 * Run as another user, the drops fail with EPERM on both sides alike. */
#include "common.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NOBODY 65534

static void print_ids(const char *who)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    printf("%s: uid %u %u %u fsuid %d gid %u %u %u fsgid %d\n", who, r, e, s, setfsuid(-1), rg, eg, sg,
           setfsgid(-1));
    gid_t list[64];
    int n = getgroups(64, list);
    printf("%s: %d groups:", who, n);
    for (int i = 0; i < n; i++)
        printf(" %u", list[i]);
    printf("\n");
}

static int caps(int pid, unsigned long long out[3])
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return -1;
    out[0] = d[0].effective | (unsigned long long)d[1].effective << 32;
    out[1] = d[0].permitted | (unsigned long long)d[1].permitted << 32;
    out[2] = d[0].inheritable | (unsigned long long)d[1].inheritable << 32;
    return 0;
}

static void print_caps(const char *who)
{
    unsigned long long c[3];
    if (caps(0, c) == 0)
        printf("%s: caps eff %llx prm %llx inh %llx\n", who, c[0], c[1], c[2]);
    else
        printf("%s: capget %s\n", who, errname(errno));
}

/* After an exec: what /proc/self/status says. */
static int show_status(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        printf("status: %s\n", errname(errno));
        return 1;
    }
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7) ||
            !strncmp(line, "CapInh:", 7) || !strncmp(line, "CapPrm:", 7) || !strncmp(line, "CapEff:", 7))
            fputs(line, stdout);
    fclose(f);
    print_ids("exec");
    return 0;
}

static void argument_checks(void)
{
    expect_err("setuid_minus_one", syscall(SYS_setuid, -1), EINVAL);
    expect_err("setgid_minus_one", syscall(SYS_setgid, -1), EINVAL);
    expect_ok("setreuid_unchanged", syscall(SYS_setreuid, -1, -1));
    expect_ok("setresuid_unchanged", syscall(SYS_setresuid, -1, -1, -1));
    expect_ok("setresgid_unchanged", syscall(SYS_setresgid, -1, -1, -1));
    expect_ok("seteuid_same", seteuid(geteuid()));
    expect_err("getgroups_negative", syscall(SYS_getgroups, -1, NULL), EINVAL);
    expect_err("getresuid_fault", syscall(SYS_getresuid, (void *)8, (void *)8, (void *)8), EFAULT);

    /* capget: an unknown version is EINVAL and Linux writes its own into the header;
     * with no data pointer the same question is answered 0. */
    struct __user_cap_header_struct h = { 0x1234, 0 };
    struct __user_cap_data_struct d[2];
    expect_err("capget_bad_version", syscall(SYS_capget, &h, d), EINVAL);
    printf("capget_version_written: %x\n", h.version);
    h.version = 0x1234;
    checkf("capget_version_query", syscall(SYS_capget, &h, NULL) == 0, "%x", h.version);
    h.version = _LINUX_CAPABILITY_VERSION_3;
    h.pid = -1;
    expect_err("capget_negative_pid", syscall(SYS_capget, &h, d), EINVAL);
    h.pid = 0x3ffffff0;
    expect_err("capget_no_such_pid", syscall(SYS_capget, &h, d), ESRCH);
    h.pid = 0;
    expect_err("capget_fault", syscall(SYS_capget, &h, (void *)8), EFAULT);
    h.pid = 1;
    expect_err("capset_other_pid", syscall(SYS_capset, &h, d), EPERM);
    h.version = 0x1234;
    h.pid = 0;
    expect_err("capset_bad_version", syscall(SYS_capset, &h, d), EINVAL);
    /* Version 1 carries the low 32 bits only. */
    struct __user_cap_header_struct h1 = { _LINUX_CAPABILITY_VERSION_1, 0 };
    struct __user_cap_data_struct d1[2] = { { 0 } };
    d1[1].effective = 0xdeadbeef;
    expect_ok("capget_v1", syscall(SYS_capget, &h1, d1));
    printf("capget_v1_second_record_untouched: %x\n", d1[1].effective);

    /* The keep-capabilities flag and the bounding set. */
    printf("keepcaps: %d\n", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    expect_err("keepcaps_two", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0), EINVAL);
    printf("capbset_setuid: %d\n", prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0));
    expect_err("capbset_past_last", prctl(PR_CAPBSET_READ, 1000, 0, 0, 0), EINVAL);
}

static void as_root_groups(void)
{
    gid_t g[3] = { 30, 10, 20 };
    gid_t back[8];
    int r = setgroups(3, g);
    printf("setgroups_three: %s\n", r == 0 ? "ok" : errname(errno));
    int n = getgroups(8, back);
    printf("getgroups_sorted: %d:", n);
    for (int i = 0; i < n; i++)
        printf(" %u", back[i]);
    printf("\n");
    printf("getgroups_count: %d\n", getgroups(0, NULL));
    if (n > 1)
        expect_err("getgroups_too_small", getgroups(1, back), EINVAL);
    if (n > 0)
        expect_err("getgroups_fault", syscall(SYS_getgroups, 8, (void *)8), EFAULT);
    if (r == 0) {
        expect_err("setgroups_too_many", syscall(SYS_setgroups, 65537, g), EINVAL);
        expect_err("setgroups_fault", syscall(SYS_setgroups, 2, (void *)8), EFAULT);
        expect_err("setgroups_minus_one_id", syscall(SYS_setgroups, 1, (gid_t[]){ -1 }), EINVAL);
    }
    /* setfsuid as root: the previous fs id is returned, the new one taken. */
    int before = setfsuid(1234);
    int now = setfsuid(-1);
    printf("setfsuid: before %d now %d\n", before, now);
    setfsuid(before);
    printf("setfsuid_back: %d\n", setfsuid(-1));
}

/* The dropped child: setgroups, setresgid, setresuid to nobody, then what it may do. */
static int dropped(const char *dir, int self_fd)
{
    char path[256];
    int r = setgroups(0, NULL);
    printf("drop_setgroups: %s\n", r == 0 ? "ok" : errname(errno));
    r = setresgid(NOBODY, NOBODY, NOBODY);
    printf("drop_setresgid: %s\n", r == 0 ? "ok" : errname(errno));
    r = setresuid(NOBODY, NOBODY, NOBODY);
    printf("drop_setresuid: %s\n", r == 0 ? "ok" : errname(errno));
    print_ids("dropped");
    print_caps("dropped");
    printf("dropped_dumpable: %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    expect_err("dropped_setuid_root", setuid(0), EPERM);
    expect_err("dropped_setgroups", setgroups(0, NULL), EPERM);
    expect_err("dropped_setreuid_root", setreuid(-1, 0), EPERM);
    printf("dropped_setfsuid_root: %d then %d\n", setfsuid(0), setfsuid(-1));
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = { { 1 << CAP_CHOWN, 1 << CAP_CHOWN, 0 }, { 0 } };
    expect_err("dropped_capset_raise", syscall(SYS_capset, &h, d), EPERM);

    snprintf(path, sizeof path, "%s/made_by_nobody", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    printf("create_after_drop: %s\n", fd >= 0 ? "ok" : errname(errno));
    if (fd >= 0) {
        struct stat st;
        fstat(fd, &st);
        printf("created_owner: %u:%u\n", st.st_uid, st.st_gid);
        close(fd);
    }
    snprintf(path, sizeof path, "%s/secret", dir);
    expect_err("root_only_file_refused", open(path, O_RDONLY), EACCES);
    expect_err("root_only_access", access(path, R_OK), EACCES);

    /* Its own child keeps the ids. */
    pid_t pid = fork();
    if (pid == 0) {
        print_ids("grandchild");
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    /* A program it executes sees them. */
    fflush(stdout);
    char *argv[] = { "creds", "status", NULL };
    extern char **environ;
    syscall(SYS_execveat, self_fd, "", argv, environ, AT_EMPTY_PATH);
    printf("execveat: %s\n", errname(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "status"))
        return show_status();
    setvbuf(stdout, NULL, _IOLBF, 0);
    print_ids("start");
    print_caps("start");
    argument_checks();

    const char *dir = make_tmpdir();
    chmod(dir, 0777);
    char path[256];
    snprintf(path, sizeof path, "%s/secret", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    int self_fd = open("/proc/self/exe", O_RDONLY);

    pid_t pid = fork();
    if (pid == 0) {
        as_root_groups();
        print_ids("groups_child");
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    pid = fork();
    if (pid == 0)
        _exit(dropped(dir, self_fd));
    waitpid(pid, &status, 0);
    printf("dropped_child_status: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
    /* The parent is untouched. */
    print_ids("parent_after");
    expect_ok("parent_reads_secret", access(path, R_OK));
    rm_tmpdir();
    return finish();
}
