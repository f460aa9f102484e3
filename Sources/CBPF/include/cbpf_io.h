// Wrappers for what attaching and reading need and Swift's Glibc module does not import: epoll, eventfd,
// packet sockets (`struct sockaddr_ll` lives in <linux/if_packet.h>), `SO_ATTACH_BPF`, and acquire/release
// loads and stores on memory the kernel shares with us (the ring buffer's positions and record headers).
// Every function returns the result, or -errno on failure (never touches the caller's errno).
#ifndef CBPF_IO_H
#define CBPF_IO_H

#include <stdint.h>

/// epoll_create1(EPOLL_CLOEXEC). Returns the epoll fd or -errno.
int cbpf_epoll_create(void);

/// epoll_ctl(epoll, EPOLL_CTL_ADD, fd, {EPOLLIN, data.u64 = token}). Returns 0 or -errno.
int cbpf_epoll_add(int epoll, int fd, uint64_t token);

/// epoll_wait(epoll, …, timeout_ms) for up to `capacity` events, whose tokens are written to `tokens`.
/// Returns the number of ready descriptors (0 on timeout) or -errno (-EINTR when a signal interrupted it).
int cbpf_epoll_wait(int epoll, uint64_t *tokens, int capacity, int timeout_ms);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK). Returns the fd or -errno.
int cbpf_eventfd(void);

/// Adds one to an eventfd's counter (wakes its epoll waiters). Returns 0 or -errno.
int cbpf_eventfd_signal(int fd);

/// Resets an eventfd's counter to zero. Returns 0 (also when it was already zero) or -errno.
int cbpf_eventfd_drain(int fd);

/// socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0): a packet socket that receives nothing until bound with
/// a protocol. Returns the fd or -errno.
int cbpf_packet_socket(void);

/// bind(fd, sockaddr_ll{AF_PACKET, htons(ETH_P_ALL), ifindex}): starts receiving every protocol on the
/// interface. Returns 0 or -errno.
int cbpf_packet_socket_bind(int fd, int ifindex);

/// setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &program, sizeof(int)). Returns 0 or -errno.
int cbpf_socket_attach_bpf(int fd, int program);

/// setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, …). Returns 0 or -errno.
int cbpf_socket_detach_bpf(int fd);

/// Acquire load of a 64-bit position the kernel publishes (`smp_load_acquire`).
static inline uint64_t cbpf_load_acquire_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}

/// Acquire load of a 32-bit record header word the kernel publishes.
static inline uint32_t cbpf_load_acquire_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}

/// Release store of a 64-bit position we publish to the kernel (`smp_store_release`).
static inline void cbpf_store_release_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}

#endif
