// uring-echo-server: the hand-written C reference for torus-echo. One thread, one io_uring
// ring, the same kernel features Torus uses (multishot accept, multishot receive into a
// provided-buffer ring, one send per received chunk, at most one send in flight per
// connection so bytes stay in order). It exists to say what the kernel costs per message on
// this machine, so that torus-echo's overhead over it can be measured (issue #5).
//
//   uring-echo-server --port P      prints "listening on 127.0.0.1:PORT" when ready
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFERS = 4096, BUFFER_SIZE = 16384, GROUP = 0, MAX_FDS = 65536 };
enum { KIND_ACCEPT = 1, KIND_RECV = 2, KIND_SEND = 3 };

static struct io_uring ring;
static struct io_uring_buf_ring *buffer_ring;
static unsigned char *buffers;
// Per buffer: the connection, length and progress of the send that uses it; the next buffer
// queued behind it on the same connection.
static int send_fd[BUFFERS], send_len[BUFFERS], send_off[BUFFERS], queued_next[BUFFERS];
// Per connection: the buffer being sent (-1: none) and the last one queued behind it.
static int sending[MAX_FDS], queue_tail[MAX_FDS];
// Per connection: its receive ended (end of stream or error); close once the sends are done.
static char receive_ended[MAX_FDS];

static uint64_t tag(int kind, int fd, int bid) { return ((uint64_t)kind << 56) | ((uint64_t)(unsigned)bid << 24) | (unsigned)fd; }

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *entry = io_uring_get_sqe(&ring);
    while (!entry) {
        io_uring_submit(&ring);
        entry = io_uring_get_sqe(&ring);
    }
    return entry;
}

static void give_back(int bid) {
    io_uring_buf_ring_add(buffer_ring, buffers + (size_t)bid * BUFFER_SIZE, BUFFER_SIZE, bid, io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(buffer_ring, 1);
}

static void arm_recv(int fd) {
    struct io_uring_sqe *entry = sqe();
    io_uring_prep_recv_multishot(entry, fd, NULL, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = GROUP;
    io_uring_sqe_set_data64(entry, tag(KIND_RECV, fd, 0));
}

static void send_buffer(int bid) {
    struct io_uring_sqe *entry = sqe();
    io_uring_prep_send(entry, send_fd[bid], buffers + (size_t)bid * BUFFER_SIZE + send_off[bid], send_len[bid] - send_off[bid], 0);
    io_uring_sqe_set_data64(entry, tag(KIND_SEND, send_fd[bid], bid));
}

static void drop_queue(int fd) {
    for (int bid = sending[fd]; bid >= 0; bid = queued_next[bid]) give_back(bid);
    sending[fd] = -1;
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 4096)) { perror("bind/listen"); return 1; }
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);

    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = 16384;
    if (io_uring_queue_init_params(4096, &ring, &params) < 0) {
        memset(&params, 0, sizeof params);
        if (io_uring_queue_init_params(4096, &ring, &params) < 0) { perror("io_uring"); return 1; }
    }
    if (posix_memalign((void **)&buffer_ring, 4096, BUFFERS * sizeof(struct io_uring_buf)) || posix_memalign((void **)&buffers, 4096, (size_t)BUFFERS * BUFFER_SIZE)) return 1;
    io_uring_buf_ring_init(buffer_ring);
    struct io_uring_buf_reg registration = { .ring_addr = (unsigned long)buffer_ring, .ring_entries = BUFFERS, .bgid = GROUP };
    if (io_uring_register_buf_ring(&ring, &registration, 0)) { perror("buffer ring"); return 1; }
    for (int bid = 0; bid < BUFFERS; bid++) give_back(bid);
    for (int fd = 0; fd < MAX_FDS; fd++) sending[fd] = -1;

    struct io_uring_sqe *accept = sqe();
    io_uring_prep_multishot_accept(accept, listener, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(accept, tag(KIND_ACCEPT, listener, 0));
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t data = cqe->user_data;
            int kind = (int)(data >> 56), fd = (int)(data & 0xffffff), bid = (int)((data >> 24) & 0xffffffff);
            int result = cqe->res;
            if (kind == KIND_ACCEPT) {
                if (result >= 0 && result < MAX_FDS) {
                    setsockopt(result, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(result);
                } else if (result >= 0) {
                    close(result);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    struct io_uring_sqe *again = sqe();
                    io_uring_prep_multishot_accept(again, listener, NULL, NULL, SOCK_CLOEXEC);
                    io_uring_sqe_set_data64(again, tag(KIND_ACCEPT, listener, 0));
                }
            } else if (kind == KIND_RECV) {
                if (result > 0) {
                    int got = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    send_fd[got] = fd; send_len[got] = result; send_off[got] = 0; queued_next[got] = -1;
                    if (sending[fd] < 0) {
                        sending[fd] = got;
                        queue_tail[fd] = got;
                        send_buffer(got);
                    } else {
                        queued_next[queue_tail[fd]] = got;
                        queue_tail[fd] = got;
                    }
                    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(fd);
                } else if (result == -ENOBUFS) {
                    arm_recv(fd);
                } else if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    // End of stream or an error: close once the queued sends are done. Only this
                    // final receive completion closes, so no later completion can name a reused fd.
                    if (sending[fd] < 0) close(fd);
                    else receive_ended[fd] = 1;
                }
            } else if (kind == KIND_SEND) {
                if (result < 0) {
                    // The peer is gone: drop what is queued; the shutdown ends the receive, whose
                    // final completion closes the fd.
                    drop_queue(fd);
                    shutdown(fd, SHUT_RDWR);
                    if (receive_ended[fd]) { receive_ended[fd] = 0; close(fd); }
                    continue;
                }
                if (send_off[bid] + result < send_len[bid]) {
                    send_off[bid] += result;
                    send_buffer(bid);
                    continue;
                }
                int next = queued_next[bid];
                give_back(bid);
                if (next >= 0) {
                    sending[fd] = next;
                    send_buffer(next);
                } else {
                    sending[fd] = -1;
                    if (receive_ended[fd]) { receive_ended[fd] = 0; close(fd); }
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
