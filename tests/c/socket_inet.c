/* TCP and UDP on loopback: listen/connect/accept, names, options (SO_REUSEADDR,
 * TCP_NODELAY, SO_RCVBUF, SO_ERROR, SO_TYPE, SO_LINGER, SO_RCVTIMEO, IP_TTL, TCP_INFO),
 * non-blocking connect, EADDRINUSE, ECONNREFUSED, EISCONN, ENOTCONN, MSG_WAITALL,
 * UDP with addresses, IPv6 loopback, readiness through poll and epoll, a blocking
 * accept in one thread while another connects, interface queries (getifaddrs through
 * netlink, if_nametoindex, SIOCGIFCONF, SIOCGIFFLAGS) and the error paths. Port numbers
 * are never printed. */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

static struct sockaddr_in loopback(unsigned short port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* A listening TCP socket on 127.0.0.1 and an ephemeral port; the address in *out. */
static int listener(struct sockaddr_in *out)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    *out = loopback(0);
    bind(s, (struct sockaddr *)out, sizeof *out);
    socklen_t len = sizeof *out;
    getsockname(s, (struct sockaddr *)out, &len);
    listen(s, 8);
    return s;
}

static void tcp_basics(void)
{
    struct sockaddr_in addr;
    int srv = listener(&addr);
    check("ephemeral_port", addr.sin_port != 0 && addr.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    int acc = 0;
    socklen_t len = sizeof acc;
    check("so_acceptconn", getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc == 1);

    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    expect_ok("connect", connect(c, (struct sockaddr *)&addr, sizeof addr));
    expect_err("connect_again_eisconn", connect(c, (struct sockaddr *)&addr, sizeof addr), EISCONN);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int s = accept(srv, (struct sockaddr *)&peer, &plen);
    check("accept", s >= 0 && plen == sizeof peer && peer.sin_family == AF_INET &&
                        peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    struct sockaddr_in mine;
    socklen_t mlen = sizeof mine;
    getsockname(c, (struct sockaddr *)&mine, &mlen);
    check("peer_is_client", mine.sin_port == peer.sin_port);
    plen = sizeof peer;
    check("getpeername", getpeername(c, (struct sockaddr *)&peer, &plen) == 0 && peer.sin_port == addr.sin_port);
    plen = 4;
    check("getpeername_truncated", getpeername(c, (struct sockaddr *)&peer, &plen) == 0 && plen == sizeof peer);

    int on = 1, v = 0;
    expect_ok("tcp_nodelay", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on));
    len = sizeof v;
    check("tcp_nodelay_read", getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1);
    int rcvbuf = 65536;
    expect_ok("so_rcvbuf", setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf));
    len = sizeof v;
    check("so_rcvbuf_doubled", getsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 && v == 2 * rcvbuf);
    int ttl = 33;
    expect_ok("ip_ttl", setsockopt(c, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl));
    len = sizeof v;
    check("ip_ttl_read", getsockopt(c, IPPROTO_IP, IP_TTL, &v, &len) == 0 && v == 33);
    struct linger lg = {1, 5};
    expect_ok("so_linger", setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    struct linger lg2;
    len = sizeof lg2;
    check("so_linger_read", getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &len) == 0 && lg2.l_onoff && lg2.l_linger == 5);
    struct tcp_info ti;
    len = sizeof ti;
    check("tcp_info", getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == 1 /* ESTABLISHED */);
    expect_err("unknown_tcp_option", getsockopt(c, IPPROTO_TCP, 9999, &v, &len), ENOPROTOOPT);
    expect_err("unknown_level_tcp", getsockopt(c, 4242, 1, &v, &len), EOPNOTSUPP);

    char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    check("send_big", send(c, big, sizeof big, 0) == (ssize_t)sizeof big);
    static char got[100000];
    check("recv_waitall", recv(s, got, sizeof got, MSG_WAITALL) == (ssize_t)sizeof got && !memcmp(got, big, sizeof big));

    struct timeval tv = {0, 50000};
    expect_ok("so_rcvtimeo", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    expect_err("recv_times_out", recv(s, got, 1, 0), EAGAIN);

    expect_ok("shutdown_wr", shutdown(c, SHUT_WR));
    check("peer_sees_eof", recv(s, got, 1, 0) == 0);
    int dup = socket(AF_INET, SOCK_STREAM, 0);
    expect_err("bind_in_use", bind(dup, (struct sockaddr *)&addr, sizeof addr), EADDRINUSE);
    close(dup);
    close(s);
    close(c);
    close(srv);
    /* The listener is closed: connecting to its port is refused. */
    int r = socket(AF_INET, SOCK_STREAM, 0);
    expect_err("connect_refused", connect(r, (struct sockaddr *)&addr, sizeof addr), ECONNREFUSED);
    int err = 0;
    len = sizeof err;
    check("so_error_after_refused", getsockopt(r, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    expect_err("send_not_connected", send(r, "x", 1, MSG_NOSIGNAL), EPIPE);
    expect_err("recv_not_connected", recv(r, got, 1, 0), ENOTCONN);
    close(r);
}

static void nonblocking_connect(void)
{
    struct sockaddr_in addr;
    int srv = listener(&addr);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(c, (struct sockaddr *)&addr, sizeof addr);
    check("nb_connect_started", r == 0 || errno == EINPROGRESS);
    struct pollfd p = {.fd = c, .events = POLLOUT};
    check("nb_connect_writable", poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT));
    int err = -1;
    socklen_t len = sizeof err;
    check("nb_so_error_zero", getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    int s = accept4(srv, NULL, NULL, SOCK_NONBLOCK);
    check("accept4_nonblock", s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK));
    char b[8];
    expect_err("nb_recv_eagain", recv(s, b, sizeof b, 0), EAGAIN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = 5};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    check("epoll_idle", epoll_wait(ep, &ev, 1, 0) == 0);
    write(c, "data", 4);
    check("epoll_readable", epoll_wait(ep, &ev, 1, 5000) == 1 && ev.data.u32 == 5 && (ev.events & EPOLLIN));
    check("read_data", read(s, b, sizeof b) == 4);
    close(c);
    check("epoll_rdhup", epoll_wait(ep, &ev, 1, 5000) == 1 && (ev.events & EPOLLRDHUP));
    close(ep);
    close(s);

    int lone = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    listen(lone, 1);
    expect_err("accept_nonblocking_empty", accept(lone, NULL, NULL), EAGAIN);
    close(lone);
    close(srv);
}

struct accept_job {
    int srv;
    int result;
};

static void *blocking_acceptor(void *arg)
{
    struct accept_job *j = arg;
    int s = accept(j->srv, NULL, NULL);
    char b[6] = {0};
    j->result = s >= 0 && recv(s, b, 5, MSG_WAITALL) == 5 && !strcmp(b, "hello") && send(s, "world", 5, 0) == 5;
    close(s);
    return NULL;
}

static void threads(void)
{
    struct sockaddr_in addr;
    struct accept_job j = {.srv = listener(&addr)};
    pthread_t t;
    pthread_create(&t, NULL, blocking_acceptor, &j);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    check("thread_connect", connect(c, (struct sockaddr *)&addr, sizeof addr) == 0);
    send(c, "hel", 3, 0);
    nanosleep(&ts, NULL);
    send(c, "lo", 2, 0);
    char b[6] = {0};
    check("thread_reply", recv(c, b, 5, MSG_WAITALL) == 5 && !strcmp(b, "world"));
    pthread_join(t, NULL);
    check("thread_accepted", j.result == 1);
    close(c);
    close(j.srv);
}

static void udp(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in aa = loopback(0), ba = loopback(0);
    bind(a, (struct sockaddr *)&aa, sizeof aa);
    bind(b, (struct sockaddr *)&ba, sizeof ba);
    socklen_t len = sizeof aa;
    getsockname(a, (struct sockaddr *)&aa, &len);
    len = sizeof ba;
    getsockname(b, (struct sockaddr *)&ba, &len);
    check("udp_sendto", sendto(a, "datagram", 8, 0, (struct sockaddr *)&ba, sizeof ba) == 8);
    char buf[16];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    check("udp_recvfrom", recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 8 &&
                              flen == sizeof from && from.sin_port == aa.sin_port);
    expect_err("udp_send_no_dest", send(a, "x", 1, 0), EDESTADDRREQ);
    expect_ok("udp_connect", connect(a, (struct sockaddr *)&ba, sizeof ba));
    check("udp_send_connected", send(a, "x", 1, 0) == 1);
    check("udp_recv", recv(b, buf, sizeof buf, 0) == 1);
    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    check("udp_sendmsg_gather", sendmsg(a, &m, 0) == 5);
    char p1[2], p2[8];
    struct iovec riov[2] = {{p1, 2}, {p2, sizeof p2}};
    struct msghdr rm = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = riov, .msg_iovlen = 2};
    check("udp_recvmsg_scatter", recvmsg(b, &rm, 0) == 5 && !memcmp(p1, "ab", 2) && !memcmp(p2, "cde", 3) &&
                                     rm.msg_namelen == sizeof from && from.sin_port == aa.sin_port);
    struct sockaddr_in bad = loopback(1);
    expect_err("udp_bad_addrlen", sendto(b, "x", 1, 0, (struct sockaddr *)&bad, 3), EINVAL);
    int big = 70000;
    static char huge[70000];
    expect_err("udp_too_big", sendto(b, huge, big, 0, (struct sockaddr *)&aa, sizeof aa), EMSGSIZE);
    close(a);
    close(b);
}

static void ipv6(void)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s < 0) {
        printf("ipv6: unavailable\n");
        return;
    }
    int on = 1;
    expect_ok("ipv6_v6only", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on));
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("ipv6: no loopback (%s)\n", errname(errno));
        close(s);
        return;
    }
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    check("ipv6_name", len == sizeof a && a.sin6_family == AF_INET6 && a.sin6_port != 0);
    listen(s, 1);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    check("ipv6_connect", connect(c, (struct sockaddr *)&a, sizeof a) == 0);
    struct sockaddr_in6 peer;
    socklen_t plen = sizeof peer;
    int t = accept(s, (struct sockaddr *)&peer, &plen);
    check("ipv6_accept", t >= 0 && plen == sizeof peer && IN6_IS_ADDR_LOOPBACK(&peer.sin6_addr));
    char addr[64];
    inet_ntop(AF_INET6, &peer.sin6_addr, addr, sizeof addr);
    printf("ipv6_peer: %s\n", addr);
    close(t);
    close(c);
    close(s);
}

static void interfaces(void)
{
    struct ifaddrs *ifa = NULL;
    expect_ok("getifaddrs", getifaddrs(&ifa));
    int lo4 = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        if (!strcmp(i->ifa_name, "lo") && i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
            lo4 = 1;
    check("getifaddrs_has_lo", lo4);
    freeifaddrs(ifa);
    unsigned idx = if_nametoindex("lo");
    check("if_nametoindex_lo", idx > 0);
    char name[IF_NAMESIZE];
    check("if_indextoname", if_indextoname(idx, name) && !strcmp(name, "lo"));
    check("if_nametoindex_missing", if_nametoindex("nosuchif0") == 0);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    check("siocgifflags", ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_LOOPBACK));
    check("siocgifaddr", ioctl(s, SIOCGIFADDR, &ifr) == 0 &&
                             ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    strcpy(ifr.ifr_name, "nosuchif0");
    expect_err("siocgifindex_missing", ioctl(s, SIOCGIFINDEX, &ifr), ENODEV);
    struct ifconf ifc = {.ifc_len = 0, .ifc_buf = NULL};
    check("siocgifconf_length", ioctl(s, SIOCGIFCONF, &ifc) == 0 && ifc.ifc_len > 0 &&
                                    ifc.ifc_len % (int)sizeof(struct ifreq) == 0);
    struct ifreq reqs[32];
    ifc.ifc_len = sizeof reqs;
    ifc.ifc_req = reqs;
    int found = 0;
    if (ioctl(s, SIOCGIFCONF, &ifc) == 0)
        for (int i = 0; i < ifc.ifc_len / (int)sizeof(struct ifreq); i++)
            found |= !strcmp(reqs[i].ifr_name, "lo");
    check("siocgifconf_has_lo", found);
    expect_err("siocgifflags_efault", ioctl(s, SIOCGIFFLAGS, (void *)8), EFAULT);
    int n = -1;
    check("fionread_empty", ioctl(s, FIONREAD, &n) == 0 && n == 0);
    close(s);
}

int main(void)
{
    tcp_basics();
    nonblocking_connect();
    threads();
    udp();
    ipv6();
    interfaces();
    return finish();
}
