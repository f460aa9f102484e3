// System calls the network and cgroup attach mechanisms need that Swift cannot reach cleanly: glibc's
// <sys/vfs.h> is not part of the Glibc module, and `open` is variadic. Each returns the result, or
// -errno on failure.
#ifndef CBPF_NET_H
#define CBPF_NET_H

#include <stdint.h>

/// Opens directory `path` read-only and close-on-exec (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`).
int cbpf_net_open_directory(const char *path);

/// Stores the `f_type` magic of the filesystem `fd` is on (`fstatfs`) in `*magic`; returns 0.
int cbpf_net_filesystem_magic(int fd, int64_t *magic);

#endif
