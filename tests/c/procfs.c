/* /proc as programs read it: the process's own files (exe, cmdline, environ, maps,
 * status, stat, fd/, fdinfo/, auxv, cwd, root), the system files (cpuinfo, meminfo,
 * uptime, loadavg, stat, filesystems, mounts, sys/kernel/...), and the file syscalls on
 * /proc paths. Only facts that hold natively and under linuxrun alike are printed: never
 * pids, addresses, sizes or counts that depend on the machine. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

extern char **environ;

/* The whole file (at most `cap` - 1 bytes, NUL-terminated); its length or -1. */
static long slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0)
        got += n;
    close(fd);
    buf[got] = 0;
    return (long)got;
}

static char g_buf[1 << 20];

/* The value of "Key:\t..." in a status-like text, up to the newline. */
static const char *field(const char *text, const char *key, char *out, size_t cap)
{
    size_t k = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, key, k) && p[k] == ':') {
            p += k + 1;
            while (*p == '\t' || *p == ' ')
                p++;
            size_t n = strcspn(p, "\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, p, n);
            out[n] = 0;
            return out;
        }
    }
    return NULL;
}

static void self_files(int argc, char **argv)
{
    char exe[4096], real[4096], v[256];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    check("exe_is_argv0_realpath", n > 0 && realpath(argv[0], real) && !strcmp(exe, real));

    long len = slurp("/proc/self/cmdline", g_buf, sizeof g_buf);
    long want = 0;
    int same = 1;
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(argv[i]) + 1;
        same = same && want + (long)l <= len && !memcmp(g_buf + want, argv[i], l);
        want += l;
    }
    check("cmdline_is_argv", same && len == want);

    len = slurp("/proc/self/environ", g_buf, sizeof g_buf);
    want = 0;
    same = 1;
    for (char **e = environ; *e; e++) {
        size_t l = strlen(*e) + 1;
        same = same && want + (long)l <= len && !memcmp(g_buf + want, *e, l);
        want += l;
    }
    check("environ_is_environ", same && len == want);

    /* Signal state that status must show: SIGUSR1 blocked, a handler for SIGUSR2,
     * SIGPIPE ignored; and a umask of our choosing. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGUSR2, (void (*)(int))exit);
    signal(SIGPIPE, SIG_IGN);
    mode_t old_umask = umask(027);
    check("status_readable", slurp("/proc/self/status", g_buf, sizeof g_buf) > 0);
    umask(old_umask);
    char name[16];
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    snprintf(name, sizeof name, "%s", base);
    check("status_name", field(g_buf, "Name", v, sizeof v) && !strcmp(v, name));
    check("status_umask", field(g_buf, "Umask", v, sizeof v) && !strcmp(v, "0027"));
    check("status_pid", field(g_buf, "Pid", v, sizeof v) && atoi(v) == getpid());
    check("status_tgid", field(g_buf, "Tgid", v, sizeof v) && atoi(v) == getpid());
    check("status_ppid", field(g_buf, "PPid", v, sizeof v) && atoi(v) == getppid());
    check("status_uid", field(g_buf, "Uid", v, sizeof v) && (uid_t)atoi(v) == getuid());
    check("status_gid", field(g_buf, "Gid", v, sizeof v) && (gid_t)atoi(v) == getgid());
    check("status_threads", field(g_buf, "Threads", v, sizeof v) && !strcmp(v, "1"));
    check("status_sigblk", field(g_buf, "SigBlk", v, sizeof v) && strtoull(v, 0, 16) == 1ull << (SIGUSR1 - 1));
    check("status_sigcgt_usr2", field(g_buf, "SigCgt", v, sizeof v) && (strtoull(v, 0, 16) >> (SIGUSR2 - 1) & 1));
    check("status_sigign_pipe", field(g_buf, "SigIgn", v, sizeof v) && (strtoull(v, 0, 16) >> (SIGPIPE - 1) & 1));
    check("status_vmrss", field(g_buf, "VmRSS", v, sizeof v) && atol(v) > 0 && strstr(v, " kB"));
    check("status_cpus_allowed_list", field(g_buf, "Cpus_allowed_list", v, sizeof v) && v[0] == '0');
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    check("stat_readable", slurp("/proc/self/stat", g_buf, sizeof g_buf) > 0);
    char *close_paren = strrchr(g_buf, ')');
    int fields = 2;
    for (char *t = close_paren ? strtok(close_paren + 1, " \n") : NULL; t; t = strtok(NULL, " \n"))
        fields++;
    check("stat_52_fields", fields == 52);
    check("stat_pid_and_comm", atoi(g_buf) == getpid() && strchr(g_buf, '(') && !strncmp(strchr(g_buf, '(') + 1, name, strlen(name)));

    snprintf(v, sizeof v, "%s\n", name);
    check("comm", slurp("/proc/self/comm", g_buf, sizeof g_buf) > 0 && !strcmp(g_buf, v));

    len = slurp("/proc/self/statm", g_buf, sizeof g_buf);
    long s1, s2, s3, s4, s5, s6, s7;
    check("statm_7_numbers", len > 0 && sscanf(g_buf, "%ld %ld %ld %ld %ld %ld %ld", &s1, &s2, &s3, &s4, &s5, &s6, &s7) == 7);

    /* auxv: AT_PAGESZ as getauxval says, ending with AT_NULL. */
    int afd = open("/proc/self/auxv", O_RDONLY);
    unsigned long aux[512];
    n = afd >= 0 ? read(afd, aux, sizeof aux) : -1;
    if (afd >= 0)
        close(afd);
    int pagesz = 0, ends = n >= 16 && n % 16 == 0 && aux[n / 8 - 2] == AT_NULL;
    for (long i = 0; i + 1 < n / 8; i += 2)
        pagesz |= aux[i] == AT_PAGESZ && aux[i + 1] == getauxval(AT_PAGESZ);
    check("auxv_pagesz_and_null", pagesz && ends);

    char cwd[4096], link[4096];
    n = readlink("/proc/self/cwd", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check("cwd_link", n > 0 && getcwd(cwd, sizeof cwd) && !strcmp(cwd, link));
    n = readlink("/proc/self/root", link, sizeof link - 1);
    check("root_link", n == 1 && link[0] == '/');
}

static int g_on_stack;

static void maps(const char *exe_path)
{
    char real[4096];
    if (!realpath(exe_path, real))
        real[0] = 0;
    volatile char *heap = malloc(1000);
    heap[0] = 1;
    check("maps_readable", slurp("/proc/self/maps", g_buf, sizeof g_buf) > 0);
    int lines = 0, parsed = 0, exe_code = 0, stack = 0, heap_line = 0, code_in_exe = 0, local_in_stack = 0;
    int on_stack = 0;
    unsigned long code = (unsigned long)&maps, local = (unsigned long)&on_stack;
    for (char *line = strtok(g_buf, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long start, end, off, inode;
        unsigned maj, min;
        char perms[8];
        int name_at = 0;
        lines++;
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &start, &end, perms, &off, &maj, &min, &inode, &name_at) == 7 && start < end)
            parsed++;
        const char *name = name_at ? line + name_at : "";
        if (!strcmp(name, real) && strchr(perms, 'x'))
            exe_code = 1;
        if (!strcmp(name, real) && code >= start && code < end)
            code_in_exe = 1;
        if (!strcmp(name, "[stack]")) {
            stack = 1;
            local_in_stack |= local >= start && local < end;
        }
        if (!strcmp(name, "[heap]"))
            heap_line = 1;
    }
    check("maps_lines_parse", lines > 0 && parsed == lines);
    check("maps_exe_code", exe_code);
    check("maps_code_in_exe", code_in_exe);
    check("maps_stack", stack && local_in_stack);
    check("maps_heap", heap_line);
    free((void *)heap);
    g_on_stack = on_stack;
}

static void fds(void)
{
    const char *dir = make_tmpdir();
    char path[4096], link[4096];
    snprintf(path, sizeof path, "%s/file", dir);
    int w = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check("write_file", w >= 0 && write(w, "hello proc\n", 11) == 11);
    close(w);
    char real[4096];
    realpath(path, real);
    int fd = open(path, O_RDONLY);
    char fdlink[64];
    snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(fdlink, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check("fd_link_is_path", n > 0 && !strcmp(link, real));

    int again = open(fdlink, O_RDONLY);
    char buf[32] = {0};
    check("fd_reopen_reads_file", again >= 0 && read(again, buf, sizeof buf) == 11 && !memcmp(buf, "hello proc\n", 11));
    struct stat a, b;
    check("fd_reopen_same_inode", fstat(fd, &a) == 0 && fstat(again, &b) == 0 && a.st_ino == b.st_ino);
    check("fd_reopen_own_offset", lseek(fd, 0, SEEK_CUR) == 0);
    close(again);

    char want[64], got[4096];
    read(fd, buf, 3);
    snprintf(want, sizeof want, "/proc/self/fdinfo/%d", fd);
    check("fdinfo_pos", slurp(want, got, sizeof got) > 0 && !strncmp(got, "pos:\t3\n", 7) && strstr(got, "\nflags:\t"));

    DIR *d = opendir("/proc/self/fd");
    int seen0 = 0, seen1 = 0, seen2 = 0, seen_fd = 0, seen_dir = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int n = atoi(e->d_name);
        seen0 |= n == 0;
        seen1 |= n == 1;
        seen2 |= n == 2;
        seen_fd |= n == fd;
        seen_dir |= n == dirfd(d);
    }
    check("fd_dir_lists_std_and_open", seen0 && seen1 && seen2 && seen_fd);
    check("fd_dir_lists_itself", seen_dir);
    if (d)
        closedir(d);
    snprintf(want, sizeof want, "/proc/self/fd/%d", 987);
    struct stat st;
    expect_err("fd_closed_is_enoent", lstat(want, &st), ENOENT);
    close(fd);
    unlink(path);
    rm_tmpdir();
}

static int has_name(const char *dirpath, const char *name, int type)
{
    DIR *d = opendir(dirpath);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= !strcmp(e->d_name, name) && (e->d_type == type || e->d_type == DT_UNKNOWN);
    if (d)
        closedir(d);
    return found;
}

static void directories(void)
{
    check("self_lists_files", has_name("/proc/self", "status", DT_REG) && has_name("/proc/self", "maps", DT_REG) && has_name("/proc/self", "cmdline", DT_REG));
    check("self_lists_links", has_name("/proc/self", "exe", DT_LNK) && has_name("/proc/self", "cwd", DT_LNK));
    check("self_lists_dirs", has_name("/proc/self", "fd", DT_DIR) && has_name("/proc/self", "task", DT_DIR));
    char pid[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    check("root_lists_self_and_pid", has_name("/proc", "self", DT_LNK) && has_name("/proc", pid, DT_DIR));
    check("root_lists_cpuinfo", has_name("/proc", "cpuinfo", DT_REG) && has_name("/proc", "sys", DT_DIR));

    struct stat st;
    check("stat_self_is_dir", stat("/proc/self", &st) == 0 && S_ISDIR(st.st_mode));
    check("lstat_self_is_link", lstat("/proc/self", &st) == 0 && S_ISLNK(st.st_mode));
    char link[64];
    ssize_t n = readlink("/proc/self", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    check("self_link_is_pid", n > 0 && !strcmp(link, pid));
    check("status_is_regular_0444", stat("/proc/self/status", &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0444 && st.st_size == 0);
    check("lstat_exe_is_link", lstat("/proc/self/exe", &st) == 0 && S_ISLNK(st.st_mode));
    check("stat_exe_is_file", stat("/proc/self/exe", &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    check("access_status", access("/proc/self/status", R_OK) == 0);
    expect_err("missing_entry", stat("/proc/self/no-such-file", &st), ENOENT);
    expect_err("file_as_dir", stat("/proc/self/status/x", &st), ENOTDIR);
    expect_err("readlink_of_file", readlink("/proc/self/status", link, sizeof link), EINVAL);
    expect_err("open_dir_for_write", open("/proc/self", O_WRONLY), EISDIR);
    expect_err("open_file_as_dir", open("/proc/self/status", O_RDONLY | O_DIRECTORY), ENOTDIR);

    int dfd = open("/proc/self", O_RDONLY | O_DIRECTORY);
    check("fstat_proc_dirfd", dfd >= 0 && fstat(dfd, &st) == 0 && S_ISDIR(st.st_mode));
    int sfd = openat(dfd, "status", O_RDONLY);
    char buf[64];
    check("openat_relative_to_proc_dir", sfd >= 0 && read(sfd, buf, 5) == 5 && !memcmp(buf, "Name:", 5));
    check("fstat_generated_file", sfd >= 0 && fstat(sfd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
    check("fstatat_relative", fstatat(dfd, "maps", &st, 0) == 0 && S_ISREG(st.st_mode));
    close(sfd);
    close(dfd);

    /* A relative path that reaches /proc through the working directory. */
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir("/") == 0) {
        int rfd = open("proc/self/status", O_RDONLY);
        check("relative_through_cwd", rfd >= 0 && read(rfd, buf, 5) == 5 && !memcmp(buf, "Name:", 5));
        close(rfd);
        chdir(cwd);
    }

    /* rewinddir lists the same entries again. */
    DIR *d = opendir("/proc/self");
    int first = 0, second = 0;
    while (d && readdir(d))
        first++;
    if (d)
        rewinddir(d);
    while (d && readdir(d))
        second++;
    if (d)
        closedir(d);
    check("rewinddir", first > 5 && first == second);
}

static void system_files(void)
{
    struct utsname u;
    uname(&u);
    char want[512];
    check("ostype", slurp("/proc/sys/kernel/ostype", g_buf, sizeof g_buf) > 0 && !strcmp(g_buf, "Linux\n"));
    snprintf(want, sizeof want, "%s\n", u.release);
    check("osrelease_is_uname", slurp("/proc/sys/kernel/osrelease", g_buf, sizeof g_buf) > 0 && !strcmp(g_buf, want));
    snprintf(want, sizeof want, "%s\n", u.nodename);
    check("hostname_is_uname", slurp("/proc/sys/kernel/hostname", g_buf, sizeof g_buf) > 0 && !strcmp(g_buf, want));
    check("pid_max", slurp("/proc/sys/kernel/pid_max", g_buf, sizeof g_buf) > 0 && atol(g_buf) >= 32768);
    check("overcommit_memory", slurp("/proc/sys/vm/overcommit_memory", g_buf, sizeof g_buf) > 0 && g_buf[0] >= '0' && g_buf[0] <= '2');

    char u1[64], u2[64], b1[64], b2[64];
    int ok = slurp("/proc/sys/kernel/random/uuid", u1, sizeof u1) == 37 && slurp("/proc/sys/kernel/random/uuid", u2, sizeof u2) == 37;
    unsigned x[5];
    ok = ok && sscanf(u1, "%8x-%4x-%4x-%4x-%8x", &x[0], &x[1], &x[2], &x[3], &x[4]) == 5 && u1[14] == '4';
    check("uuid_fresh_v4", ok && strcmp(u1, u2));
    ok = slurp("/proc/sys/kernel/random/boot_id", b1, sizeof b1) == 37 && slurp("/proc/sys/kernel/random/boot_id", b2, sizeof b2) == 37;
    check("boot_id_stable", ok && !strcmp(b1, b2));

    long len = slurp("/proc/cpuinfo", g_buf, sizeof g_buf);
    int procs = 0;
    for (char *p = g_buf; (p = strstr(p, "processor\t: ")); p++)
        procs++;
    check("cpuinfo_processors", len > 0 && procs >= 1 && procs <= sysconf(_SC_NPROCESSORS_CONF));
    check("cpuinfo_flags_fpu", strstr(g_buf, "\nflags\t\t: fpu ") != NULL);
    check("cpuinfo_vendor", strstr(g_buf, "\nvendor_id\t: ") != NULL);

    slurp("/proc/meminfo", g_buf, sizeof g_buf);
    unsigned long total = 0, mfree = 0;
    check("meminfo", sscanf(g_buf, "MemTotal: %lu kB\nMemFree: %lu kB", &total, &mfree) == 2 && total > 0 && mfree <= total);
    double up, idle;
    check("uptime", slurp("/proc/uptime", g_buf, sizeof g_buf) > 0 && sscanf(g_buf, "%lf %lf", &up, &idle) == 2 && up > 0);
    double l1, l5, l15;
    int running, total_procs, last;
    check("loadavg", slurp("/proc/loadavg", g_buf, sizeof g_buf) > 0 && sscanf(g_buf, "%lf %lf %lf %d/%d %d", &l1, &l5, &l15, &running, &total_procs, &last) == 6);
    check("stat_cpu_line", slurp("/proc/stat", g_buf, sizeof g_buf) > 0 && !strncmp(g_buf, "cpu  ", 5) && strstr(g_buf, "\nbtime "));
    check("filesystems_proc", slurp("/proc/filesystems", g_buf, sizeof g_buf) > 0 && strstr(g_buf, "nodev\tproc\n"));
    check("mounts_proc", slurp("/proc/mounts", g_buf, sizeof g_buf) > 0 && strstr(g_buf, " /proc proc "));
    check("self_mounts_proc", slurp("/proc/self/mounts", g_buf, sizeof g_buf) > 0 && strstr(g_buf, " /proc proc "));
}

/* Changes through /proc/self/fd/N reach the file behind an O_PATH descriptor: how
 * gnulib's fchmodat(AT_SYMLINK_NOFOLLOW) and tar reach files without following links. */
static void changes_through_fd_links(void)
{
    const char *name = "procfs_change.tmp";
    unlink(name);
    int w = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check("change_create", w >= 0 && write(w, "0123456789", 10) == 10 && close(w) == 0);
    int fd = open(name, O_PATH);
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    struct stat st;
    check("chmod_via_link", chmod(link, 0600) == 0 && stat(name, &st) == 0 && (st.st_mode & 07777) == 0600);
    check("chown_via_link", chown(link, getuid(), getgid()) == 0);
    struct timespec ts[2] = {{86400, 0}, {2 * 86400, 0}};
    check("utimens_via_link", utimensat(AT_FDCWD, link, ts, 0) == 0 && stat(name, &st) == 0 && st.st_mtime == 2 * 86400);
    check("truncate_via_link", truncate(link, 4) == 0 && stat(name, &st) == 0 && st.st_size == 4);
    errno = 0;
    check("chmod_proc_file_refused", chmod("/proc/self/status", 0600) == -1 && errno != 0);
    close(fd);
    unlink(name);
}

/* The machine, not the program's VM: other processes are listed and readable, the
 * memory total is the machine's, the mounts are the host's, /proc is a proc mount. */
static void machine(void)
{
    char ppid[32], path[64], buf[256];
    snprintf(ppid, sizeof ppid, "%d", getppid());
    check("root_lists_init_and_parent", has_name("/proc", "1", DT_DIR) && has_name("/proc", ppid, DT_DIR));
    snprintf(path, sizeof path, "/proc/%s/stat", ppid);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    buf[n > 0 ? n : 0] = 0;
    if (fd >= 0)
        close(fd);
    check("parent_stat_names_parent", n > 0 && atoi(buf) == getppid() && strchr(buf, '('));
    struct stat st;
    snprintf(path, sizeof path, "/proc/%s", ppid);
    check("parent_dir_is_owned", stat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid());

    /* The host's meminfo has the host kernel's fields (the guest's own has fewer); the
     * total itself is compared with native's by host-monitor/tests/machine.rs. */
    int fields = 0;
    slurp("/proc/meminfo", g_buf, sizeof g_buf);
    for (char *p = g_buf; (p = strstr(p, " kB\n")); p++)
        fields++;
    checkf("meminfo_fields", fields > 3, "%d", fields);

    char type[64] = "";
    slurp("/proc/self/mounts", g_buf, sizeof g_buf);
    for (char *line = strtok(g_buf, "\n"); line; line = strtok(NULL, "\n")) {
        char dev[256], dir[256], fstype[64];
        if (sscanf(line, "%255s %255s %63s", dev, dir, fstype) == 3 && !strcmp(dir, "/"))
            snprintf(type, sizeof type, "%s", fstype);
    }
    checkf("root_mount_type", type[0] != 0, "%s", type);
    struct statfs sf;
    check("statfs_proc_is_proc", statfs("/proc/self", &sf) == 0 && sf.f_type == 0x9fa0);
}

int main(int argc, char **argv)
{
    changes_through_fd_links();
    self_files(argc, argv);
    maps(argv[0]);
    fds();
    directories();
    system_files();
    machine();
    return finish();
}
