// Thin wrappers over liburing's inline helpers; see include/CUring.h for why they exist.
#include "CUring.h"

#include <liburing.h>
#include <stdlib.h>
#include <string.h>

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
void torus_prep_cancel(void *sqe, uint64_t user_data, int flags) { io_uring_prep_cancel64(sqe, user_data, flags); }
void torus_prep_cancel_any(void *sqe) { io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY); }
void torus_prep_msg_ring(void *sqe, int fd, unsigned res, uint64_t data) { io_uring_prep_msg_ring(sqe, fd, res, data, 0); }
void torus_prep_read(void *sqe, int fd, void *buf, unsigned nbytes, uint64_t offset) {
    io_uring_prep_read(sqe, fd, buf, nbytes, offset);
}
void torus_prep_write(void *sqe, int fd, const void *buf, unsigned nbytes, uint64_t offset) {
    io_uring_prep_write(sqe, fd, buf, nbytes, offset);
}
void torus_prep_close(void *sqe, int fd) { io_uring_prep_close(sqe, fd); }
