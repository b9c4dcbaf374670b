// System calls Swift's Glibc module does not import (variadic syscall(), GNU-only functions).
#include "CUring.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

long torus_gettid(void) { return syscall(SYS_gettid); }

long torus_set_thread_affinity(const uint64_t *mask, unsigned long words) {
    long r = syscall(SYS_sched_setaffinity, 0, words * sizeof(uint64_t), mask);
    return r < 0 ? -errno : 0;
}

long torus_get_thread_affinity(uint64_t *mask, unsigned long words) {
    long r = syscall(SYS_sched_getaffinity, 0, words * sizeof(uint64_t), mask);
    return r < 0 ? -errno : r;
}

void torus_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

int torus_eventfd_create(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

uint64_t torus_memlock_soft_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    return (uint64_t)limit.rlim_cur;
}
