/* UNIX sockets: socketpair of each type, shutdown, EPIPE and SIGPIPE, MSG_NOSIGNAL,
 * MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC, SCM_RIGHTS (a pipe end and an eventfd), SCM_CREDENTIALS,
 * MSG_CTRUNC, named sockets (bind, listen, connect, accept, names, EADDRINUSE, ENOENT,
 * ECONNREFUSED), the abstract namespace, datagrams with sendto/recvfrom, sendmmsg and
 * recvmmsg, a forked peer, and the error paths (EBADF, ENOTSOCK, EINVAL, EFAULT). */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static volatile sig_atomic_t got_sigpipe;
static void on_sigpipe(int sig)
{
    (void)sig;
    got_sigpipe++;
}

static socklen_t unix_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path, path);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

static void pairs(void)
{
    int sv[2];
    expect_ok("pair_stream", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    check("pair_stream_io", write(sv[0], "hello", 5) == 5);
    char buf[16] = {0};
    check("pair_peek", recv(sv[1], buf, sizeof buf, MSG_PEEK) == 5 && !memcmp(buf, "hello", 5));
    memset(buf, 0, sizeof buf);
    check("pair_read_after_peek", read(sv[1], buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5));
    expect_err("pair_dontwait_empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    int type = 0;
    socklen_t len = sizeof type;
    check("so_type_stream", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM && len == 4);
    int domain = 0;
    len = sizeof domain;
    check("so_domain", getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX);
    expect_ok("shutdown_wr", shutdown(sv[0], SHUT_WR));
    check("read_eof_after_shutdown", read(sv[1], buf, sizeof buf) == 0);
    expect_err("shutdown_bad_how", shutdown(sv[0], 7), EINVAL);
    close(sv[1]);
    signal(SIGPIPE, on_sigpipe);
    expect_err("write_closed_peer_epipe", write(sv[0], "x", 1), EPIPE);
    check("sigpipe_raised", got_sigpipe == 1);
    expect_err("send_nosignal_epipe", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    check("no_sigpipe_with_nosignal", got_sigpipe == 1);
    close(sv[0]);

    expect_ok("pair_dgram", socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv));
    check("pair_cloexec", (fcntl(sv[0], F_GETFD) & FD_CLOEXEC) && (fcntl(sv[1], F_GETFD) & FD_CLOEXEC));
    check("pair_nonblock", (fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);
    send(sv[0], "one", 3, 0);
    send(sv[0], "twotwo", 6, 0);
    check("dgram_boundaries", recv(sv[1], buf, sizeof buf, 0) == 3 && recv(sv[1], buf, sizeof buf, 0) == 6);
    send(sv[0], "truncated!", 10, 0);
    struct iovec iov = {buf, 4};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(sv[1], &m, 0);
    check("dgram_msg_trunc", n == 4 && (m.msg_flags & MSG_TRUNC));
    send(sv[0], "truncated!", 10, 0);
    check("dgram_recv_trunc_flag_len", recv(sv[1], buf, 2, MSG_TRUNC) == 10);
    expect_err("dgram_empty_eagain", recv(sv[1], buf, sizeof buf, 0), EAGAIN);

    struct mmsghdr msgs[3];
    struct iovec iovs[3];
    char bufs[3][8];
    const char *words[3] = {"a", "bb", "ccc"};
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_base = (void *)words[i];
        iovs[i].iov_len = strlen(words[i]);
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    check("sendmmsg", sendmmsg(sv[0], msgs, 3, 0) == 3 && msgs[2].msg_len == 3);
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = sizeof bufs[i];
    }
    int r = recvmmsg(sv[1], msgs, 3, 0, NULL);
    check("recvmmsg", r == 3 && msgs[0].msg_len == 1 && msgs[1].msg_len == 2 && msgs[2].msg_len == 3 &&
                          !memcmp(bufs[2], "ccc", 3));
    close(sv[0]);
    close(sv[1]);

    expect_ok("pair_seqpacket", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    send(sv[0], "rec1", 4, 0);
    send(sv[0], "record2", 7, MSG_EOR);
    check("seqpacket_records", recv(sv[1], buf, sizeof buf, 0) == 4 && recv(sv[1], buf, sizeof buf, 0) == 7);
    close(sv[0]);
    close(sv[1]);
    expect_err("pair_inet_unsupported", socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
    expect_err("pair_bad_type", socketpair(AF_UNIX, 99, 0, sv), EINVAL);
    int *volatile bad_sv = (int *)8;
    expect_err("pair_efault", socketpair(AF_UNIX, SOCK_STREAM, 0, bad_sv), EFAULT);
}

static void rights_and_creds(void)
{
    int sv[2], p[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    int efd = eventfd(7, 0);
    int pass[2] = {p[0], efd};
    char cbuf[CMSG_SPACE(sizeof pass)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {"R", 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof pass);
    memcpy(CMSG_DATA(c), pass, sizeof pass);
    check("send_rights", sendmsg(sv[0], &m, 0) == 1);

    char data;
    char rbuf[CMSG_SPACE(sizeof pass)];
    struct iovec riov = {&data, 1};
    struct msghdr rm = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rbuf, .msg_controllen = sizeof rbuf};
    check("recv_rights", recvmsg(sv[1], &rm, MSG_CMSG_CLOEXEC) == 1 && !(rm.msg_flags & MSG_CTRUNC));
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rm);
    int got[2] = {-1, -1};
    check("rights_header", rc && rc->cmsg_level == SOL_SOCKET && rc->cmsg_type == SCM_RIGHTS &&
                               rc->cmsg_len == CMSG_LEN(sizeof got));
    if (rc)
        memcpy(got, CMSG_DATA(rc), sizeof got);
    check("rights_new_numbers", got[0] > efd && got[1] > got[0]);
    check("rights_cloexec", (fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0);
    write(p[1], "via", 3);
    char b[4] = {0};
    check("passed_pipe_reads", read(got[0], b, 3) == 3 && !strcmp(b, "via"));
    uint64_t v = 0;
    check("passed_eventfd_reads", read(got[1], &v, 8) == 8 && v == 7);
    close(got[0]);
    close(got[1]);

    /* Too little control room: the descriptors are dropped, MSG_CTRUNC is set. */
    sendmsg(sv[0], &m, 0);
    char small[CMSG_SPACE(sizeof(int))];
    rm.msg_control = small;
    rm.msg_controllen = CMSG_LEN(sizeof(int)); /* room for one descriptor */
    check("ctrunc", recvmsg(sv[1], &rm, 0) == 1 && (rm.msg_flags & MSG_CTRUNC));
    rc = CMSG_FIRSTHDR(&rm);
    check("ctrunc_kept_what_fits", rc && rc->cmsg_len == CMSG_LEN(sizeof(int)) &&
                                     rm.msg_controllen == CMSG_LEN(sizeof(int)));
    for (int fd = efd + 1; fd < efd + 8; fd++)
        close(fd);

    /* Passing a descriptor that is not open: EBADF. */
    int bad = 999;
    memcpy(CMSG_DATA(c), &bad, sizeof bad);
    c->cmsg_len = CMSG_LEN(sizeof bad);
    m.msg_controllen = CMSG_SPACE(sizeof bad);
    expect_err("send_rights_bad_fd", sendmsg(sv[0], &m, 0), EBADF);
    m.msg_controllen = 3;
    expect_ok("send_control_shorter_than_header", sendmsg(sv[0], &m, 0));
    recv(sv[1], b, 1, 0);

    int on = 1;
    expect_ok("so_passcred", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    write(sv[0], "C", 1);
    char cred[CMSG_SPACE(sizeof(struct ucred))];
    rm.msg_control = cred;
    rm.msg_controllen = sizeof cred;
    check("recv_with_creds", recvmsg(sv[1], &rm, 0) == 1);
    rc = CMSG_FIRSTHDR(&rm);
    struct ucred uc = {0};
    if (rc && rc->cmsg_type == SCM_CREDENTIALS)
        memcpy(&uc, CMSG_DATA(rc), sizeof uc);
    check("creds_are_ours", uc.pid == getpid() && uc.uid == getuid() && uc.gid == getgid());
    struct ucred peer = {0};
    socklen_t len = sizeof peer;
    check("so_peercred", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.pid == getpid() &&
                             len == sizeof peer);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
    close(efd);
}

static void named(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/sock", dir);
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, path);
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_ok("bind_path", bind(srv, (struct sockaddr *)&a, alen));
    struct stat st;
    check("bound_path_is_socket", stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_err("bind_in_use", bind(other, (struct sockaddr *)&a, alen), EADDRINUSE);
    expect_err("connect_not_listening", connect(other, (struct sockaddr *)&a, alen), ECONNREFUSED);
    close(other);
    expect_ok("listen", listen(srv, 4));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    check("getsockname_path", getsockname(srv, (struct sockaddr *)&got, &glen) == 0 && glen == alen &&
                                  !strcmp(got.sun_path, path));

    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, alen) != 0)
            _exit(1);
        char b[8];
        if (read(c, b, 4) != 4 || memcmp(b, "ping", 4))
            _exit(2);
        write(c, "pong", 4);
        _exit(0);
    }
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    int conn = accept4(srv, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    check("accept_from_child", conn >= 0);
    check("accepted_peer_unnamed", plen == sizeof(sa_family_t) && peer.sun_family == AF_UNIX);
    check("accept4_cloexec", (fcntl(conn, F_GETFD) & FD_CLOEXEC) != 0);
    write(conn, "ping", 4);
    char b[8] = {0};
    check("reply_from_child", read(conn, b, 4) == 4 && !strcmp(b, "pong"));
    int st2 = -1;
    waitpid(pid, &st2, 0);
    check("child_ok", WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
    plen = sizeof peer;
    check("getpeername_unnamed", getpeername(conn, (struct sockaddr *)&peer, &plen) == 0 && plen == sizeof(sa_family_t));
    close(conn);
    close(srv);

    char missing[256];
    snprintf(missing, sizeof missing, "%s/none", dir);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    alen = unix_addr(&a, missing);
    expect_err("connect_missing_path", connect(c, (struct sockaddr *)&a, alen), ENOENT);
    expect_err("accept4_bad_flags", accept4(c, NULL, NULL, 0x1234), EINVAL);
    expect_err("accept_not_listening", accept(c, NULL, NULL), EINVAL);
    close(c);

    /* Datagrams between named sockets: recvfrom reports the sender's path. */
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/d1", dir);
    snprintf(p2, sizeof p2, "%s/d2", dir);
    struct sockaddr_un a1, a2;
    socklen_t l1 = unix_addr(&a1, p1), l2 = unix_addr(&a2, p2);
    int d1 = socket(AF_UNIX, SOCK_DGRAM, 0), d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(d1, (struct sockaddr *)&a1, l1);
    bind(d2, (struct sockaddr *)&a2, l2);
    check("sendto_path", sendto(d1, "dg", 2, 0, (struct sockaddr *)&a2, l2) == 2);
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    check("recvfrom_path", recvfrom(d2, b, sizeof b, 0, (struct sockaddr *)&from, &flen) == 2 && flen == l1 &&
                               !strcmp(from.sun_path, p1));
    flen = 3;
    sendto(d1, "dg", 2, 0, (struct sockaddr *)&a2, l2);
    check("recvfrom_short_addr_buffer", recvfrom(d2, b, sizeof b, 0, (struct sockaddr *)&from, &flen) == 2 &&
                                            flen == l1);
    expect_err("sendto_unconnected_no_addr", send(d1, "x", 1, 0), ENOTCONN);
    close(d1);
    close(d2);
    unlink(p1);
    unlink(p2);
    unlink(path);
}

static void abstract(void)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    const char name[] = "\0linuxrun-test-abstract";
    memcpy(a.sun_path, name, sizeof name - 1);
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + sizeof name - 1;
    char uniq[64];
    snprintf(uniq, sizeof uniq, "-%d", getpid());
    memcpy(a.sun_path + sizeof name - 1, uniq, strlen(uniq));
    alen += strlen(uniq);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_ok("bind_abstract", bind(s, (struct sockaddr *)&a, alen));
    listen(s, 1);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_ok("connect_abstract", connect(c, (struct sockaddr *)&a, alen));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    check("abstract_name_back", getsockname(s, (struct sockaddr *)&got, &glen) == 0 && glen == alen &&
                                    got.sun_path[0] == 0 && !memcmp(got.sun_path, a.sun_path, alen - 2));
    close(c);
    close(s);
}

static void errors(void)
{
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, "/tmp/x");
    expect_err("socket_bad_domain", socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
    expect_err("socket_bad_type", socket(AF_UNIX, 77, 0), EINVAL);
    expect_err("socket_bad_protocol", socket(AF_UNIX, SOCK_STREAM, 5), EPROTONOSUPPORT);
    expect_err("bind_ebadf", bind(-1, (struct sockaddr *)&a, alen), EBADF);
    expect_err("bind_enotsock", bind(0, (struct sockaddr *)&a, alen), ENOTSOCK);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    expect_err("bind_len_too_big", bind(s, (struct sockaddr *)&a, 200), EINVAL);
    expect_err("bind_len_negative", bind(s, (struct sockaddr *)&a, (socklen_t)-1), EINVAL);
    expect_err("bind_efault", bind(s, (struct sockaddr *)8, alen), EFAULT);
    expect_err("connect_efault", connect(s, (struct sockaddr *)8, alen), EFAULT);
    expect_err("getsockopt_efault_len", getsockopt(s, SOL_SOCKET, SO_TYPE, &alen, (socklen_t *)8), EFAULT);
    int v;
    socklen_t vl = sizeof v;
    expect_err("getsockopt_unknown_level", getsockopt(s, 12345, 1, &v, &vl), EOPNOTSUPP);
    expect_err("getsockopt_unknown_option", getsockopt(s, SOL_SOCKET, 9999, &v, &vl), ENOPROTOOPT);
    vl = (socklen_t)-1;
    expect_err("getsockopt_negative_len", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl), EINVAL);
    expect_err("setsockopt_efault", setsockopt(s, SOL_SOCKET, SO_PASSCRED, (void *)8, 4), EFAULT);
    expect_err("getpeername_unconnected", getpeername(s, (struct sockaddr *)&a, &alen), ENOTCONN);
    expect_err("recv_ebadf", recv(-1, &v, 1, 0), EBADF);
    expect_err("send_enotsock", send(1, "x", 1, 0), ENOTSOCK);
    expect_err("listen_ebadf", listen(99, 1), EBADF);
    expect_err("sendmsg_efault", sendmsg(s, (struct msghdr *)8, 0), EFAULT);
    expect_err("recvmsg_efault", recvmsg(s, (struct msghdr *)8, 0), EFAULT);
    close(s);
}

int main(void)
{
    const char *dir = make_tmpdir();
    pairs();
    rights_and_creds();
    named(dir);
    abstract();
    errors();
    rm_tree(dir);
    return finish();
}
