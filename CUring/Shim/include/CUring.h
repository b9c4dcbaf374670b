// CUring: the C face of liburing that Torus's ring layer calls.
//
// Why a shim rather than importing liburing.h into Swift: liburing's header pulls in system
// headers (sys/socket.h, fcntl.h, signal.h, ...), and a Swift module that loads two textual
// copies of them (ours and Foundation's) fails to compile with "different definitions in
// different modules". This header includes only <stdint.h>; everything system-specific stays in
// the .c files. It also covers what Swift cannot import from liburing at all: function-like
// macros, flag macros built from enums, and variadic syscall().
//
// SQEs are passed as opaque pointers valid until the next submit on their ring.
#ifndef TORUS_CURING_H
#define TORUS_CURING_H

#include <stdint.h>

// MARK: constants (kernel ABI values; ring.c checks each against liburing's headers)

enum {
    TORUS_SETUP_CQSIZE = 1u << 3,
    TORUS_SETUP_SUBMIT_ALL = 1u << 7,
    TORUS_SETUP_COOP_TASKRUN = 1u << 8,
    TORUS_SETUP_TASKRUN_FLAG = 1u << 9,
    TORUS_SETUP_SINGLE_ISSUER = 1u << 12,
    TORUS_SETUP_DEFER_TASKRUN = 1u << 13,

    TORUS_SQE_IO_LINK = 1u << 2,
    TORUS_SQE_ASYNC = 1u << 4,
    TORUS_SQE_BUFFER_SELECT = 1u << 5,
    TORUS_SQE_CQE_SKIP_SUCCESS = 1u << 6,

    TORUS_CQE_F_BUFFER = 1u << 0,
    TORUS_CQE_F_MORE = 1u << 1,
    TORUS_CQE_BUFFER_SHIFT = 16,

    TORUS_OP_MSG_RING = 40,

    TORUS_AT_FDCWD = -100,
    TORUS_AT_REMOVEDIR = 0x200,
    TORUS_AT_SYMLINK_NOFOLLOW = 0x100,
    TORUS_AT_EMPTY_PATH = 0x1000,
    TORUS_STATX_BASIC_STATS = 0x7ff,
    TORUS_STATX_BTIME = 0x800,
    TORUS_RENAME_NOREPLACE = 1,
};

/// struct __kernel_timespec.
struct torus_timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};

/// One completion, copied out of the CQ ring.
struct torus_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

// MARK: ring lifecycle

/// Creates a ring (io_uring_queue_init_params). Returns 0 and the ring in *ring, or -errno.
int torus_ring_create(void **ring, unsigned entries, uint32_t flags, uint32_t cq_entries, uint32_t *features);
/// Unmaps and closes a ring (io_uring_queue_exit) and frees it.
void torus_ring_destroy(void *ring);
int torus_ring_fd(void *ring);

// MARK: submission and completion

/// The next free SQE or NULL when the SQ is full (io_uring_get_sqe).
void *torus_ring_get_sqe(void *ring);
unsigned torus_ring_sq_space_left(void *ring);
unsigned torus_ring_sq_ready(void *ring);
unsigned torus_ring_cq_ready(void *ring);
int torus_ring_submit(void *ring);
int torus_ring_submit_and_wait(void *ring, unsigned wait_nr);
int torus_ring_submit_and_get_events(void *ring);
/// Copies up to `max` ready completions into `out`, advances the CQ head, returns the count.
unsigned torus_ring_reap(void *ring, struct torus_cqe *out, unsigned max);
/// Fills `supported[op]` (1/0) for op 0...*last_op. Returns 0 or -errno.
int torus_ring_probe(void *ring, uint8_t *supported, unsigned capacity, unsigned *last_op);

// MARK: SQE preparation (io_uring_prep_*)

void torus_sqe_set_data(void *sqe, uint64_t data);
void torus_sqe_add_flags(void *sqe, uint32_t flags);
void torus_prep_nop(void *sqe);
void torus_prep_timeout(void *sqe, struct torus_timespec *ts, unsigned count, unsigned flags);
void torus_prep_link_timeout(void *sqe, struct torus_timespec *ts, unsigned flags);
void torus_prep_cancel(void *sqe, uint64_t user_data, int flags);
void torus_prep_cancel_any(void *sqe);
void torus_prep_cancel_fd(void *sqe, int fd);
void torus_sqe_limit_length(void *sqe, uint32_t limit);
void torus_prep_msg_ring(void *sqe, int fd, unsigned res, uint64_t data);
void torus_prep_read(void *sqe, int fd, void *buf, unsigned nbytes, uint64_t offset);
void torus_prep_write(void *sqe, int fd, const void *buf, unsigned nbytes, uint64_t offset);
void torus_prep_close(void *sqe, int fd);
void torus_prep_openat(void *sqe, int dfd, const char *path, int flags, uint32_t mode);
void torus_prep_statx(void *sqe, int dfd, const char *path, int flags, unsigned mask, void *statxbuf);
void torus_prep_fsync(void *sqe, int fd, int datasync);
/// IORING_OP_FALLOCATE (mode 0: allocate and extend the size).
void torus_prep_fallocate(void *sqe, int fd, uint64_t offset, uint64_t length);
/// fallocate(2), mode 0, as a plain call (glibc declares it only with _GNU_SOURCE). 0 or -errno.
int torus_fallocate(int fd, uint64_t offset, uint64_t length);
/// IORING_OP_FADVISE with POSIX_FADV_WILLNEED (`willneed`) or POSIX_FADV_SEQUENTIAL.
void torus_prep_fadvise(void *sqe, int fd, uint64_t offset, uint32_t length, int willneed);
void torus_prep_mkdirat(void *sqe, int dfd, const char *path, uint32_t mode);
void torus_prep_unlinkat(void *sqe, int dfd, const char *path, int flags);
void torus_prep_renameat(void *sqe, int olddfd, const char *oldpath, int newdfd, const char *newpath, unsigned flags);
void torus_prep_linkat(void *sqe, int olddfd, const char *oldpath, int newdfd, const char *newpath, int flags);
void torus_prep_symlinkat(void *sqe, const char *target, int newdirfd, const char *linkpath);
void torus_prep_accept(void *sqe, int fd, void *addr, uint32_t *addrlen, int flags, int multishot);
void torus_prep_connect(void *sqe, int fd, const void *addr, uint32_t addrlen);
void torus_prep_recv(void *sqe, int fd, void *buf, uint64_t len, int flags);
void torus_prep_send(void *sqe, int fd, const void *buf, uint64_t len, int flags);
void torus_prep_shutdown(void *sqe, int fd, int how);
void torus_prep_sendmsg(void *sqe, int fd, const void *msghdr, unsigned flags);
void torus_prep_recvmsg(void *sqe, int fd, void *msghdr, unsigned flags);
void torus_prep_splice(void *sqe, int fd_in, int64_t off_in, int fd_out, int64_t off_out, unsigned nbytes, unsigned flags);

// MARK: provided buffer rings

/// Maps and registers a provided-buffer ring of `entries` (a power of two) for buffer group
/// `group`. Returns the ring or NULL with *error set to -errno.
void *torus_buf_ring_create(void *ring, unsigned entries, int group, int *error);
/// Unregisters and unmaps it.
void torus_buf_ring_destroy(void *ring, void *buf_ring, unsigned entries, int group);
/// Queues buffer `id` (`addr`, `len`) at `offset` slots past the tail (make visible with advance).
void torus_buf_ring_add(void *buf_ring, void *addr, unsigned len, unsigned short id, unsigned entries, int offset);
/// Publishes `count` added buffers to the kernel.
void torus_buf_ring_advance(void *buf_ring, int count);
/// Multishot IORING_OP_RECV selecting buffers from `group`; with `bundle`, one completion may
/// fill several buffers, consecutive in the ring (IORING_RECVSEND_BUNDLE, kernel 6.10+: check
/// TORUS_FEAT_RECVSEND_BUNDLE in the ring's features first).
void torus_prep_recv_multishot(void *sqe, int fd, int group, int bundle);
/// IORING_FEAT_RECVSEND_BUNDLE (Debian 12's headers predate it).
#define TORUS_FEAT_RECVSEND_BUNDLE (1U << 14)

// MARK: statx

/// Bytes to allocate for the kernel's struct statx.
unsigned torus_statx_size(void);

/// The fields of struct statx that Torus reports.
struct torus_file_stat {
    uint64_t size;
    uint64_t blocks;
    uint32_t mode;
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    uint64_t inode;
    uint32_t dev_major;
    uint32_t dev_minor;
    int64_t atime_sec, mtime_sec, ctime_sec, btime_sec;
    uint32_t atime_nsec, mtime_nsec, ctime_nsec, btime_nsec;
    uint32_t mask;
    uint32_t blksize;
};
void torus_statx_extract(const void *statxbuf, struct torus_file_stat *out);
/// statx(2) as a plain system call into `statxbuf` (torus_statx_size() bytes), for the same
/// fields as IORING_OP_STATX. Returns 0 or -errno.
int torus_statx_now(int dirfd, const char *path, int follow_symlinks, void *statxbuf);

// MARK: system helpers (things Swift's Glibc module does not import)

/// O_DIRECT (its value differs between architectures and needs _GNU_SOURCE).
int torus_o_direct(void);

/// renameat2(2) (glibc declares it only with _GNU_SOURCE). Returns 0 or -errno.
int torus_renameat2(const char *from, const char *to, unsigned flags);

/// Pages of [offset, offset+length) of `fd` in the page cache, with cachestat(2) (Linux 6.5).
/// Returns 0 and sets *cached and *total (pages), or -errno (-ENOSYS on older kernels).
long torus_cachestat(int fd, uint64_t offset, uint64_t length, uint64_t *cached, uint64_t *total);

/// gettid().
long torus_gettid(void);
/// sched_setaffinity/sched_getaffinity on the calling thread with a raw bit mask of `words`
/// 64-bit words. set returns 0 or -errno; get returns bytes written or -errno.
long torus_set_thread_affinity(const uint64_t *mask, unsigned long words);
long torus_get_thread_affinity(uint64_t *mask, unsigned long words);
// The affinity of the process's main thread (sched_getaffinity(getpid())): bytes written or -errno.
long torus_get_main_thread_affinity(uint64_t *mask, unsigned long words);
/// Names the calling thread (PR_SET_NAME; 15 bytes kept).
void torus_set_thread_name(const char *name);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), or -1 with errno set.
int torus_eventfd_create(void);
/// Opens the signal relay pipe (close-on-exec; the write end non-blocking) and stores its write
/// end for the handler. Returns 0 and the read end, or -errno.
int torus_signal_relay_open(int *read_fd);
/// Installs the relay handler for `signo`: each delivery writes the signal number to the pipe.
/// Returns 0 or -errno.
int torus_signal_relay_install(int signo);
/// Writes 0x80 | signo to the relay pipe: tells its reader that `signo` now has the relay
/// handler (signal numbers themselves are written below 0x80). Returns 0 or -errno.
int torus_signal_relay_announce(int signo);
/// Unblocks `signo` for the calling thread. Returns 0 or -errno.
int torus_signal_unblock(int signo);
/// copy_file_range(2) between explicit offsets (neither file position moves). Returns the bytes
/// copied (0 at the source's end) or -errno.
long torus_copy_file_range(int fd_in, int64_t offset_in, int fd_out, int64_t offset_out, uint64_t length);
/// Soft RLIMIT_MEMLOCK in bytes; UINT64_MAX when unlimited or unknown.
uint64_t torus_memlock_soft_limit(void);

// The symbolic name of an errno ("EIO"), or NULL when the C library does not know it.
const char *torus_errno_name(int code);

// pipe2(fds, O_CLOEXEC): 0 or -errno.
int torus_pipe_cloexec(int fds[2]);

// A spin-wait hint (x86 PAUSE, Arm YIELD): a busy-polling core lets its sibling hyperthread
// run and does not flood the memory system with speculative loads of the word it watches.
static inline void torus_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

#endif
