// The smallest C shim Torus needs on top of liburing: only what Swift cannot import
// (function-like macros, flag macros built from enums, variadic syscall()).
// Everything else in liburing.h (its static inline io_uring_prep_* helpers) imports directly.
#ifndef TORUS_CURING_SHIM_H
#define TORUS_CURING_SHIM_H

#include <liburing.h>
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

// SQE flags: liburing defines these as macros over enum bit positions, which Swift cannot import.
static const unsigned TORUS_IOSQE_FIXED_FILE = IOSQE_FIXED_FILE;
static const unsigned TORUS_IOSQE_IO_DRAIN = IOSQE_IO_DRAIN;
static const unsigned TORUS_IOSQE_IO_LINK = IOSQE_IO_LINK;
static const unsigned TORUS_IOSQE_IO_HARDLINK = IOSQE_IO_HARDLINK;
static const unsigned TORUS_IOSQE_ASYNC = IOSQE_ASYNC;
static const unsigned TORUS_IOSQE_BUFFER_SELECT = IOSQE_BUFFER_SELECT;
static const unsigned TORUS_IOSQE_CQE_SKIP_SUCCESS = IOSQE_CQE_SKIP_SUCCESS;

// Kernel thread id of the caller (gettid() and syscall() do not import into Swift).
static inline long torus_gettid(void) { return syscall(SYS_gettid); }

// Pin the calling thread to the CPUs in `mask` (a bit per CPU, `words` 64-bit words).
// Returns 0 or -errno. A raw syscall so that no _GNU_SOURCE-only declaration is needed.
static inline long torus_set_thread_affinity(const uint64_t *mask, unsigned long words) {
    long r = syscall(SYS_sched_setaffinity, 0, words * sizeof(uint64_t), mask);
    return r < 0 ? -errno : 0;
}

// The CPUs the calling thread may run on, as a bit mask. Returns the number of bytes the kernel
// wrote, or -errno.
static inline long torus_get_thread_affinity(uint64_t *mask, unsigned long words) {
    long r = syscall(SYS_sched_getaffinity, 0, words * sizeof(uint64_t), mask);
    return r < 0 ? -errno : r;
}

// Names the calling thread (prctl PR_SET_NAME; the kernel keeps 15 bytes). pthread_setname_np
// would need _GNU_SOURCE in Swift's Glibc module, and prctl is variadic.
static inline void torus_set_thread_name(const char *name) { syscall(SYS_prctl, 15 /* PR_SET_NAME */, name, 0, 0, 0); }

// eventfd(2) with CLOEXEC|NONBLOCK (sys/eventfd.h is not part of Swift's Glibc module).
static inline int torus_eventfd_create(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

// The soft RLIMIT_MEMLOCK in bytes; UINT64_MAX when unlimited or unknown.
static inline uint64_t torus_memlock_soft_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    return (uint64_t)limit.rlim_cur;
}

#endif
