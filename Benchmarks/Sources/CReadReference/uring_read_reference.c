// The C floor for Torus's file reads: plain liburing, no runtime, one ring per thread.
#define _GNU_SOURCE
#include "CReadReference.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct shared {
    int fd;
    int size;
    int depth;
    long jobs;
    long blocks;
    int sequential;
    int fixed_file;
    int fixed_buffers;
    atomic_long next;
    atomic_long bytes;
    atomic_int error;
};

static off_t offset_of(const struct shared *s, long job) {
    long block = s->sequential ? job % s->blocks : (long)(((uint64_t)job * 0x9E3779B97F4A7C15ULL) >> 20) % s->blocks;
    return (off_t)block * s->size;
}

/// Queues the next job's read into slot `slot`'s buffer; 0 when no job is left.
static int queue_next(struct io_uring *ring, struct shared *s, char *buffers, int slot) {
    long job = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
    if (job >= s->jobs) return 0;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    char *buffer = buffers + (size_t)slot * s->size;
    if (s->fixed_buffers)
        io_uring_prep_read_fixed(sqe, s->fixed_file ? 0 : s->fd, buffer, s->size, offset_of(s, job), slot);
    else
        io_uring_prep_read(sqe, s->fixed_file ? 0 : s->fd, buffer, s->size, offset_of(s, job));
    if (s->fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
    sqe->user_data = slot;
    return 1;
}

static void *reader(void *argument) {
    struct shared *s = argument;
    struct io_uring ring;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
    int result = io_uring_queue_init_params(256, &ring, &params);
    if (result < 0) {
        atomic_store(&s->error, result);
        return NULL;
    }
    if (s->fixed_file && (result = io_uring_register_files(&ring, &s->fd, 1)) < 0) {
        atomic_store(&s->error, result);
        io_uring_queue_exit(&ring);
        return NULL;
    }
    char *buffers = aligned_alloc(4096, (size_t)s->size * s->depth);
    if (s->fixed_buffers) {
        // One registered buffer per slot: the kernel pins them once, not per read.
        struct iovec vectors[s->depth];
        for (int slot = 0; slot < s->depth; slot++) vectors[slot] = (struct iovec){buffers + (size_t)slot * s->size, (size_t)s->size};
        if ((result = io_uring_register_buffers(&ring, vectors, (unsigned)s->depth)) < 0) {
            atomic_store(&s->error, result);
            free(buffers);
            io_uring_queue_exit(&ring);
            return NULL;
        }
    }
    long bytes = 0;
    int inflight = 0;
    for (int slot = 0; slot < s->depth; slot++) inflight += queue_next(&ring, s, buffers, slot);
    while (inflight > 0) {
        result = io_uring_submit_and_wait(&ring, 1);
        if (result < 0 && result != -EINTR) {
            atomic_store(&s->error, result);
            break;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            inflight--;
            if (cqe->res < 0) {
                atomic_store(&s->error, cqe->res);
                continue;
            }
            bytes += cqe->res;
            inflight += queue_next(&ring, s, buffers, (int)cqe->user_data);
        }
        io_uring_cq_advance(&ring, seen);
    }
    free(buffers);
    io_uring_queue_exit(&ring);
    atomic_fetch_add(&s->bytes, bytes);
    return NULL;
}

long uring_read_reference(const char *path, int threads, int size, int depth, long jobs, int sequential,
                          int options) {
    struct shared s = {.size = size,
                       .depth = depth,
                       .jobs = jobs,
                       .sequential = sequential,
                       .fixed_file = (options & C_READ_FIXED_FILE) != 0,
                       .fixed_buffers = (options & C_READ_FIXED_BUFFERS) != 0};
    s.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s.fd < 0) return -errno;
    s.blocks = lseek(s.fd, 0, SEEK_END) / size;
    atomic_init(&s.next, 0);
    atomic_init(&s.bytes, 0);
    atomic_init(&s.error, 0);
    pthread_t ids[threads];
    int started = 0;
    for (; started < threads; started++) {
        if (pthread_create(&ids[started], NULL, reader, &s) != 0) break;
    }
    for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
    close(s.fd);
    if (started < threads) return -EAGAIN;
    int error = atomic_load(&s.error);
    return error < 0 ? error : atomic_load(&s.bytes);
}
