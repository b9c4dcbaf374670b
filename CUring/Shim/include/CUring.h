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
void torus_prep_cancel(void *sqe, uint64_t user_data, int flags);
void torus_prep_cancel_any(void *sqe);
void torus_prep_msg_ring(void *sqe, int fd, unsigned res, uint64_t data);
void torus_prep_read(void *sqe, int fd, void *buf, unsigned nbytes, uint64_t offset);
void torus_prep_write(void *sqe, int fd, const void *buf, unsigned nbytes, uint64_t offset);
void torus_prep_close(void *sqe, int fd);

// MARK: system helpers (things Swift's Glibc module does not import)

/// gettid().
long torus_gettid(void);
/// sched_setaffinity/sched_getaffinity on the calling thread with a raw bit mask of `words`
/// 64-bit words. set returns 0 or -errno; get returns bytes written or -errno.
long torus_set_thread_affinity(const uint64_t *mask, unsigned long words);
long torus_get_thread_affinity(uint64_t *mask, unsigned long words);
/// Names the calling thread (PR_SET_NAME; 15 bytes kept).
void torus_set_thread_name(const char *name);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), or -1 with errno set.
int torus_eventfd_create(void);
/// Soft RLIMIT_MEMLOCK in bytes; UINT64_MAX when unlimited or unknown.
uint64_t torus_memlock_soft_limit(void);

#endif
