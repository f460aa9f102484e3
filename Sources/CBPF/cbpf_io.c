#define _GNU_SOURCE
#include "cbpf_io.h"
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif
#ifndef SO_DETACH_BPF
#define SO_DETACH_BPF 27 /* SO_DETACH_FILTER */
#endif

#define RESULT(r) ((r) < 0 ? -errno : (r))

int cbpf_epoll_create(void) { int r = epoll_create1(EPOLL_CLOEXEC); return RESULT(r); }

int cbpf_epoll_add(int epoll, int fd, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN;
    event.data.u64 = token;
    int r = epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    return RESULT(r);
}

int cbpf_epoll_wait(int epoll, uint64_t *tokens, int capacity, int timeout_ms) {
    struct epoll_event events[16];
    if (capacity > 16) capacity = 16;
    if (capacity < 1) return -EINVAL;
    int r = epoll_wait(epoll, events, capacity, timeout_ms);
    if (r < 0) return -errno;
    for (int i = 0; i < r; i++) tokens[i] = events[i].data.u64;
    return r;
}

int cbpf_eventfd(void) { int r = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); return RESULT(r); }

int cbpf_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof(one));
    return r < 0 ? -errno : 0;
}

int cbpf_eventfd_drain(int fd) {
    uint64_t count;
    ssize_t r = read(fd, &count, sizeof(count));
    return (r < 0 && errno != EAGAIN) ? -errno : 0;
}

int cbpf_packet_socket(void) { int r = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); return RESULT(r); }

int cbpf_packet_socket_bind(int fd, int ifindex) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof(address));
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = ifindex;
    int r = bind(fd, (struct sockaddr *)&address, sizeof(address));
    return RESULT(r);
}

int cbpf_socket_attach_bpf(int fd, int program) {
    int r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &program, sizeof(program));
    return RESULT(r);
}

int cbpf_socket_detach_bpf(int fd) {
    int unused = 0;
    int r = setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, &unused, sizeof(unused));
    return RESULT(r);
}
