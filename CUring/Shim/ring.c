// Thin wrappers over liburing's inline helpers; see include/CUring.h for why they exist.
#define _GNU_SOURCE
#include "CUring.h"

#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <linux/stat.h>
#include <sys/mman.h>
#include <errno.h>
#include <stdio.h>

_Static_assert(TORUS_SETUP_CQSIZE == IORING_SETUP_CQSIZE, "ABI");
_Static_assert(TORUS_SETUP_SUBMIT_ALL == IORING_SETUP_SUBMIT_ALL, "ABI");
_Static_assert(TORUS_SETUP_COOP_TASKRUN == IORING_SETUP_COOP_TASKRUN, "ABI");
_Static_assert(TORUS_SETUP_TASKRUN_FLAG == IORING_SETUP_TASKRUN_FLAG, "ABI");
_Static_assert(TORUS_SETUP_SINGLE_ISSUER == IORING_SETUP_SINGLE_ISSUER, "ABI");
_Static_assert(TORUS_SETUP_DEFER_TASKRUN == IORING_SETUP_DEFER_TASKRUN, "ABI");
_Static_assert(TORUS_SQE_IO_LINK == IOSQE_IO_LINK, "ABI");
_Static_assert(TORUS_SQE_ASYNC == IOSQE_ASYNC, "ABI");
_Static_assert(TORUS_SQE_BUFFER_SELECT == IOSQE_BUFFER_SELECT, "ABI");
_Static_assert(TORUS_SQE_CQE_SKIP_SUCCESS == IOSQE_CQE_SKIP_SUCCESS, "ABI");
_Static_assert(TORUS_CQE_F_BUFFER == IORING_CQE_F_BUFFER, "ABI");
_Static_assert(TORUS_CQE_F_MORE == IORING_CQE_F_MORE, "ABI");
_Static_assert(TORUS_CQE_BUFFER_SHIFT == IORING_CQE_BUFFER_SHIFT, "ABI");
_Static_assert(TORUS_OP_MSG_RING == IORING_OP_MSG_RING, "ABI");
_Static_assert(sizeof(struct torus_timespec) == sizeof(struct __kernel_timespec), "ABI");

int torus_ring_create(void **out, unsigned entries, uint32_t flags, uint32_t cq_entries, uint32_t *features) {
    struct io_uring *ring = calloc(1, sizeof *ring);
    if (!ring) return -12; // ENOMEM
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = flags;
    params.cq_entries = cq_entries;
    int result = io_uring_queue_init_params(entries, ring, &params);
    if (result < 0) {
        free(ring);
        return result;
    }
    *features = params.features;
    *out = ring;
    return 0;
}

void torus_ring_destroy(void *ring) {
    io_uring_queue_exit(ring);
    free(ring);
}

int torus_ring_fd(void *ring) { return ((struct io_uring *)ring)->ring_fd; }

void *torus_ring_get_sqe(void *ring) { return io_uring_get_sqe(ring); }
unsigned torus_ring_sq_space_left(void *ring) { return io_uring_sq_space_left(ring); }
unsigned torus_ring_sq_ready(void *ring) { return io_uring_sq_ready(ring); }
unsigned torus_ring_cq_ready(void *ring) { return io_uring_cq_ready(ring); }
int torus_ring_submit(void *ring) { return io_uring_submit(ring); }
int torus_ring_submit_and_wait(void *ring, unsigned wait_nr) { return io_uring_submit_and_wait(ring, wait_nr); }
int torus_ring_submit_and_get_events(void *ring) { return io_uring_submit_and_get_events(ring); }

unsigned torus_ring_reap(void *ring, struct torus_cqe *out, unsigned max) {
    struct io_uring *r = ring;
    struct io_uring_cqe *cqe;
    unsigned head, count = 0;
    io_uring_for_each_cqe(r, head, cqe) {
        if (count == max) break;
        out[count].user_data = cqe->user_data;
        out[count].res = cqe->res;
        out[count].flags = cqe->flags;
        count++;
    }
    io_uring_cq_advance(r, count);
    return count;
}

int torus_ring_probe(void *ring, uint8_t *supported, unsigned capacity, unsigned *last_op) {
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (!probe) return -22; // EINVAL: no IORING_REGISTER_PROBE
    unsigned last = probe->last_op;
    for (unsigned op = 0; op <= last && op < capacity; op++) {
        supported[op] = io_uring_opcode_supported(probe, (int)op) ? 1 : 0;
    }
    *last_op = last;
    io_uring_free_probe(probe);
    return 0;
}

void torus_sqe_set_data(void *sqe, uint64_t data) { io_uring_sqe_set_data64(sqe, data); }
void torus_sqe_add_flags(void *sqe, uint32_t flags) {
    struct io_uring_sqe *s = sqe;
    s->flags |= (uint8_t)flags;
}
void torus_prep_nop(void *sqe) { io_uring_prep_nop(sqe); }
void torus_prep_timeout(void *sqe, struct torus_timespec *ts, unsigned count, unsigned flags) {
    io_uring_prep_timeout(sqe, (struct __kernel_timespec *)ts, count, flags);
}
void torus_prep_link_timeout(void *sqe, struct torus_timespec *ts, unsigned flags) {
    io_uring_prep_link_timeout(sqe, (struct __kernel_timespec *)ts, flags);
}
void torus_prep_cancel(void *sqe, uint64_t user_data, int flags) { io_uring_prep_cancel64(sqe, user_data, flags); }
void torus_prep_cancel_any(void *sqe) { io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY); }
void torus_sqe_limit_length(void *sqe, uint32_t limit) {
    struct io_uring_sqe *entry = sqe;
    if (entry->len > limit) entry->len = limit;
}
void torus_prep_cancel_fd(void *sqe, int fd) { io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL); }
void torus_prep_msg_ring(void *sqe, int fd, unsigned res, uint64_t data) { io_uring_prep_msg_ring(sqe, fd, res, data, 0); }
void torus_prep_read(void *sqe, int fd, void *buf, unsigned nbytes, uint64_t offset) {
    io_uring_prep_read(sqe, fd, buf, nbytes, offset);
}
void torus_prep_write(void *sqe, int fd, const void *buf, unsigned nbytes, uint64_t offset) {
    io_uring_prep_write(sqe, fd, buf, nbytes, offset);
}
void torus_prep_close(void *sqe, int fd) { io_uring_prep_close(sqe, fd); }

_Static_assert(TORUS_AT_FDCWD == AT_FDCWD, "ABI");
_Static_assert(TORUS_AT_REMOVEDIR == AT_REMOVEDIR, "ABI");
_Static_assert(TORUS_AT_SYMLINK_NOFOLLOW == AT_SYMLINK_NOFOLLOW, "ABI");
_Static_assert(TORUS_AT_EMPTY_PATH == AT_EMPTY_PATH, "ABI");
_Static_assert(TORUS_STATX_BASIC_STATS == STATX_BASIC_STATS, "ABI");
_Static_assert(TORUS_STATX_BTIME == STATX_BTIME, "ABI");

void torus_prep_openat(void *sqe, int dfd, const char *path, int flags, uint32_t mode) {
    io_uring_prep_openat(sqe, dfd, path, flags, mode);
}
void torus_prep_statx(void *sqe, int dfd, const char *path, int flags, unsigned mask, void *statxbuf) {
    io_uring_prep_statx(sqe, dfd, path, flags, mask, statxbuf);
}
void torus_prep_fadvise(void *sqe, int fd, uint64_t offset, uint32_t length, int willneed) {
    io_uring_prep_fadvise(sqe, fd, offset, length, willneed ? POSIX_FADV_WILLNEED : POSIX_FADV_SEQUENTIAL);
}

void torus_prep_fallocate(void *sqe, int fd, uint64_t offset, uint64_t length) {
    io_uring_prep_fallocate(sqe, fd, 0, (off_t)offset, (off_t)length);
}

int torus_fallocate(int fd, uint64_t offset, uint64_t length) {
    return fallocate(fd, 0, (off_t)offset, (off_t)length) == 0 ? 0 : -errno;
}

void torus_prep_fsync(void *sqe, int fd, int datasync) {
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
}
void torus_prep_mkdirat(void *sqe, int dfd, const char *path, uint32_t mode) { io_uring_prep_mkdirat(sqe, dfd, path, mode); }
void torus_prep_unlinkat(void *sqe, int dfd, const char *path, int flags) { io_uring_prep_unlinkat(sqe, dfd, path, flags); }
void torus_prep_renameat(void *sqe, int olddfd, const char *oldpath, int newdfd, const char *newpath, unsigned flags) {
    io_uring_prep_renameat(sqe, olddfd, oldpath, newdfd, newpath, flags);
}
void torus_prep_linkat(void *sqe, int olddfd, const char *oldpath, int newdfd, const char *newpath, int flags) {
    io_uring_prep_linkat(sqe, olddfd, oldpath, newdfd, newpath, flags);
}
void torus_prep_symlinkat(void *sqe, const char *target, int newdirfd, const char *linkpath) {
    io_uring_prep_symlinkat(sqe, target, newdirfd, linkpath);
}
void torus_prep_accept(void *sqe, int fd, void *addr, uint32_t *addrlen, int flags, int multishot) {
    if (multishot) io_uring_prep_multishot_accept(sqe, fd, addr, addrlen, flags);
    else io_uring_prep_accept(sqe, fd, addr, addrlen, flags);
}
void torus_prep_connect(void *sqe, int fd, const void *addr, uint32_t addrlen) {
    io_uring_prep_connect(sqe, fd, addr, addrlen);
}
void torus_prep_recv(void *sqe, int fd, void *buf, uint64_t len, int flags) { io_uring_prep_recv(sqe, fd, buf, len, flags); }
void torus_prep_send(void *sqe, int fd, const void *buf, uint64_t len, int flags) { io_uring_prep_send(sqe, fd, buf, len, flags); }
void torus_prep_shutdown(void *sqe, int fd, int how) { io_uring_prep_shutdown(sqe, fd, how); }
void torus_prep_sendmsg(void *sqe, int fd, const void *msghdr, unsigned flags) { io_uring_prep_sendmsg(sqe, fd, msghdr, flags); }
void torus_prep_recvmsg(void *sqe, int fd, void *msghdr, unsigned flags) { io_uring_prep_recvmsg(sqe, fd, msghdr, flags); }
void torus_prep_splice(void *sqe, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned nbytes, unsigned flags) {
    io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, nbytes, flags);
}

unsigned torus_statx_size(void) { return sizeof(struct statx); }

void torus_statx_extract(const void *buf, struct torus_file_stat *out) {
    const struct statx *s = buf;
    out->size = s->stx_size;
    out->blocks = s->stx_blocks;
    out->mode = s->stx_mode;
    out->nlink = s->stx_nlink;
    out->uid = s->stx_uid;
    out->gid = s->stx_gid;
    out->inode = s->stx_ino;
    out->dev_major = s->stx_dev_major;
    out->dev_minor = s->stx_dev_minor;
    out->atime_sec = s->stx_atime.tv_sec; out->atime_nsec = s->stx_atime.tv_nsec;
    out->mtime_sec = s->stx_mtime.tv_sec; out->mtime_nsec = s->stx_mtime.tv_nsec;
    out->ctime_sec = s->stx_ctime.tv_sec; out->ctime_nsec = s->stx_ctime.tv_nsec;
    out->btime_sec = s->stx_btime.tv_sec; out->btime_nsec = s->stx_btime.tv_nsec;
    out->mask = s->stx_mask;
    out->blksize = s->stx_blksize;
}

int torus_statx_now(int dirfd, const char *path, int follow_symlinks, void *buf) {
    int flags = (path[0] == 0 ? AT_EMPTY_PATH : 0) | (follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW);
    int result = statx(dirfd, path, flags, STATX_BASIC_STATS | STATX_BTIME, buf);
    return result == 0 ? 0 : -errno;
}

int torus_o_direct(void) { return O_DIRECT; }

int torus_renameat2(const char *from, const char *to, unsigned flags) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) == 0 ? 0 : -errno;
}

void *torus_buf_ring_create(void *ring, unsigned entries, int group, int *error) {
    size_t size = entries * sizeof(struct io_uring_buf);
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) {
        *error = -errno;
        return NULL;
    }
    struct io_uring_buf_ring *br = memory;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)br;
    reg.ring_entries = entries;
    reg.bgid = (unsigned short)group;
    int result = io_uring_register_buf_ring(ring, &reg, 0);
    if (result < 0) {
        munmap(memory, size);
        *error = result;
        return NULL;
    }
    return br;
}

void torus_buf_ring_destroy(void *ring, void *buf_ring, unsigned entries, int group) {
    io_uring_unregister_buf_ring(ring, group);
    munmap(buf_ring, entries * sizeof(struct io_uring_buf));
}

void torus_buf_ring_add(void *buf_ring, void *addr, unsigned len, unsigned short id, unsigned entries, int offset) {
    io_uring_buf_ring_add(buf_ring, addr, len, id, io_uring_buf_ring_mask(entries), offset);
}

void torus_buf_ring_advance(void *buf_ring, int count) { io_uring_buf_ring_advance(buf_ring, count); }

// IORING_RECVSEND_BUNDLE, in sqe->ioprio (include/uapi/linux/io_uring.h; newer than liburing 2.3).
#define TORUS_RECVSEND_BUNDLE (1U << 4)

void torus_prep_recv_multishot(void *sqe, int fd, int group, int bundle) {
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT);
    ((struct io_uring_sqe *)sqe)->buf_group = (unsigned short)group;
    if (bundle) ((struct io_uring_sqe *)sqe)->ioprio |= TORUS_RECVSEND_BUNDLE;
}
