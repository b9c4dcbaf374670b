// System calls Swift's Glibc module does not import (variadic syscall(), GNU-only functions).
#define _GNU_SOURCE
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

long torus_get_main_thread_affinity(uint64_t *mask, unsigned long words) {
    long r = syscall(SYS_sched_getaffinity, getpid(), words * sizeof(uint64_t), mask);
    return r < 0 ? -errno : r;
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

struct torus_cachestat_range { uint64_t off; uint64_t len; };
struct torus_cachestat_result { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

long torus_cachestat(int fd, uint64_t offset, uint64_t length, uint64_t *cached, uint64_t *total) {
#ifndef SYS_cachestat
#define SYS_cachestat 451   /* the same on every architecture (generic syscall table) */
#endif
    struct torus_cachestat_range range = { offset, length };
    struct torus_cachestat_result result = { 0, 0, 0, 0, 0 };
    long r = syscall(SYS_cachestat, fd, &range, &result, 0);
    if (r < 0) return -errno;
    long page = sysconf(_SC_PAGESIZE);
    *cached = result.nr_cache;
    *total = (length + (uint64_t)page - 1) / (uint64_t)page;
    return 0;
}

// Signal relay: a handler that only write(2)s the signal number to a pipe (async-signal-safe),
// so that Swift code can wait for signals on an ordinary thread.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

static volatile int torus_signal_write_fd = -1;

static void torus_signal_handler(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    ssize_t written = write(torus_signal_write_fd, &byte, 1);
    (void)written;   // a full pipe drops the byte: waiters only need to know "at least once"
    errno = saved;
}

int torus_signal_relay_open(int *read_fd) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    int flags = fcntl(fds[1], F_GETFL);
    fcntl(fds[1], F_SETFL, flags | O_NONBLOCK);
    torus_signal_write_fd = fds[1];
    *read_fd = fds[0];
    return 0;
}

int torus_signal_relay_install(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = torus_signal_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(signo, &action, NULL) == 0 ? 0 : -errno;
}

int torus_signal_relay_announce(int signo) {
    unsigned char byte = (unsigned char)(0x80 | signo);
    return write(torus_signal_write_fd, &byte, 1) == 1 ? 0 : -errno;
}

int torus_signal_unblock(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    int result = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return -result;
}

long torus_copy_file_range(int fd_in, int64_t offset_in, int fd_out, int64_t offset_out, uint64_t length) {
    off_t in = offset_in, out = offset_out;
    ssize_t copied = copy_file_range(fd_in, &in, fd_out, &out, length, 0);
    return copied < 0 ? -errno : copied;
}

const char *torus_errno_name(int code) { return strerrorname_np(code); }

int torus_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }
