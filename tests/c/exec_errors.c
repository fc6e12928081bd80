/* execve failures return to the caller with the old image intact (ENOENT, EACCES for a
 * file without exec permission and for a directory, ENOEXEC (also for an ELF cut short), E2BIG, EFAULT, ENOTDIR);
 * then execveat with AT_EMPTY_PATH on an O_PATH fd (fexecve) of itself, which runs a
 * `#!` script whose interpreter is this program, which finally execs /bin/echo (a
 * dynamic system binary). argv[1] is the stage marker. */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static char *noargs[] = { "x", NULL };
static char *noenv[] = { NULL };

static void write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        printf("write %s: FAIL\n", path);
    close(fd);
    chmod(path, mode);
}

static void errors(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s", make_tmpdir());
    char path[256];
    expect_err("enoent", execve("/nonexistent/program", noargs, noenv), ENOENT);
    expect_err("empty_path", execve("", noargs, noenv), ENOENT);
    snprintf(path, sizeof path, "%s/plain", dir);
    write_file(path, "#!/bin/sh\n", 0644);
    expect_err("eacces_not_executable", execve(path, noargs, noenv), EACCES);
    expect_err("enotdir", execve("/dev/null/x", noargs, noenv), ENOTDIR);
    expect_err("eacces_directory", execve(dir, noargs, noenv), EACCES);
    snprintf(path, sizeof path, "%s/garbage", dir);
    write_file(path, "\001\002\003 this is not a program\n", 0755);
    expect_err("enoexec", execve(path, noargs, noenv), ENOEXEC);
    /* A valid ELF header whose program headers lie past the end of the file. */
    char head[64];
    int self_fd = open("/proc/self/exe", O_RDONLY);
    check("read_own_header", self_fd >= 0 && read(self_fd, head, sizeof head) == sizeof head);
    close(self_fd);
    snprintf(path, sizeof path, "%s/truncated", dir);
    int t = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    check("write_truncated", write(t, head, sizeof head) == sizeof head);
    close(t);
    expect_err("truncated_elf", execve(path, noargs, noenv), ENOEXEC);
    snprintf(path, sizeof path, "%s/missing-interp", dir);
    write_file(path, "#!/nonexistent/interpreter\n", 0755);
    expect_err("script_interp_missing", execve(path, noargs, noenv), ENOENT);

    char *self = "/proc/self/exe";
    size_t big = 200 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    char *one_huge[] = { "x", huge, NULL };
    expect_err("e2big_one_string", execve(self, one_huge, noenv), E2BIG);
    /* Twenty strings under MAX_ARG_STRLEN each: 2.4 MB in all, above a quarter of 8 MB. */
    huge[120 * 1024] = 0;
    char *many[22];
    many[0] = "x";
    for (int i = 1; i < 21; i++)
        many[i] = huge;
    many[21] = NULL;
    expect_err("e2big_total", execve(self, many, noenv), E2BIG);
    free(huge);
    expect_err("efault_argv", syscall(SYS_execve, self, (char **)8, noenv), EFAULT);
    char *bad_string[] = { "x", (char *)8, NULL };
    expect_err("efault_string", execve(self, bad_string, noenv), EFAULT);
    expect_err("efault_envp", syscall(SYS_execve, self, noargs, (char **)8), EFAULT);
    expect_err("efault_path", syscall(SYS_execve, (char *)8, noargs, noenv), EFAULT);
    expect_err("execveat_bad_flags", syscall(SYS_execveat, AT_FDCWD, self, noargs, noenv, 0x4), EINVAL);
    expect_err("execveat_empty_without_flag", syscall(SYS_execveat, 0, "", noargs, noenv, 0), ENOENT);
    rm_tree(dir);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "stage-fexec") == 0) {
        printf("fexecve: argc %d argv[1] %s\n", argc, argv[1]);
        /* The interpreter is this very program (an absolute path as the harness runs it). */
        write_file("exec-script", "", 0755);
        char line[512];
        snprintf(line, sizeof line, "#!%s stage-script\nnot read\n", argv[2]);
        write_file("exec-script", line, 0755);
        char *args[] = { "exec-script", "x", "two words", NULL };
        fflush(stdout);
        execve("./exec-script", args, noenv);
        printf("script execve: %s FAIL\n", errname(errno));
        return 1;
    }
    if (argc >= 2 && strcmp(argv[1], "stage-script") == 0) {
        printf("script: argc %d\n", argc);
        for (int i = 1; i < argc; i++)
            printf("argv[%d]: [%s]\n", i, argv[i]);
        unlink("exec-script");
        char *args[] = { "echo", "echo", "from", "the", "dynamic", "binary", NULL };
        char *env[] = { "PATH=/bin", NULL };
        fflush(stdout);
        execve("/bin/echo", args + 1, env);
        printf("echo execve: %s FAIL\n", errname(errno));
        return 1;
    }
    errors();
    if (g_failures)
        return finish();
    int fd = open(argv[0], O_PATH | O_CLOEXEC);
    char *args[] = { argv[0], "stage-fexec", argv[0], NULL };
    fflush(stdout);
    syscall(SYS_execveat, fd, "", args, noenv, AT_EMPTY_PATH);
    printf("execveat: %s FAIL\n", errname(errno));
    return 1;
}
