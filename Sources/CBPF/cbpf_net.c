#define _GNU_SOURCE
#include "cbpf_net.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/vfs.h>

int cbpf_net_open_directory(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cbpf_net_filesystem_magic(int fd, int64_t *magic) {
    struct statfs facts;
    if (fstatfs(fd, &facts) != 0)
        return -errno;
    *magic = (int64_t)facts.f_type;
    return 0;
}
