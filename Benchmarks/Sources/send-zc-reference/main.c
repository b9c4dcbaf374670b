// send-zc-reference: IORING_OP_SEND against IORING_OP_SEND_ZC (zero copy) for one TCP
// connection over loopback, in C with liburing, so that the decision whether Torus should send
// large writes with SEND_ZC (issue 18 item 2) rests on a measurement of the kernel alone.
//
// The sender (pinned to CPU 0) sends 1 GiB per run in writes of SIZE bytes, one send in flight
// (the stream's order), reusing a buffer only after the kernel is done with it (for SEND_ZC:
// after its notification). A receiver thread (CPU 1) reads and checks every byte against the
// stream offset. Each round runs both ways, the first alternating; medians of the rounds.
//
//   send-zc-reference [SIZE_KIB=64] [ROUNDS=5]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const long long total = 1LL << 30;

// The stream's byte at offset i is i % 251: any run of it starts at offset % 251 of this
// buffer, so neither side computes bytes per send (its cost would hide the sends').
enum { PATTERN_PERIOD = 251, LONGEST = (1 << 20) + (16 << 20) };
static unsigned char *stream_pattern;
static const unsigned char *pattern_at(long long offset) { return stream_pattern + offset % PATTERN_PERIOD; }

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double thread_cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_THREAD, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

struct receiver { int listener; long long received; long long wrong; };

static void *receive_all(void *argument) {
    struct receiver *r = argument;
    pin(1);
    int connection = accept(r->listener, 0, 0);
    if (connection < 0) { perror("accept"); exit(1); }
    unsigned char *buffer = malloc(1 << 20);
    for (;;) {
        ssize_t n = recv(connection, buffer, 1 << 20, 0);
        if (n < 0) { perror("recv"); exit(1); }
        if (n == 0) break;
        r->wrong += memcmp(buffer, pattern_at(r->received), n) != 0;
        r->received += n;
    }
    close(connection);
    free(buffer);
    return 0;
}

// One run: returns the sender's CPU seconds; *wall gets the elapsed time.
static double run(int zero_copy, int size, double *wall) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (listener < 0 || bind(listener, (void *)&address, sizeof address) || listen(listener, 1)
        || getsockname(listener, (void *)&address, &length)) { perror("listen"); exit(1); }
    struct receiver r = {.listener = listener};
    pthread_t thread;
    pthread_create(&thread, 0, receive_all, &r);
    int sender = socket(AF_INET, SOCK_STREAM, 0);
    if (sender < 0 || connect(sender, (void *)&address, sizeof address)) { perror("connect"); exit(1); }
    struct io_uring ring;
    int error = io_uring_queue_init(8, &ring, 0);
    if (error) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-error)); exit(1); }
    double start = now(), cpu = thread_cpu();
    long long sent = 0;
    while (sent < total) {
        int chunk = total - sent < size ? (int)(total - sent) : size;
        const unsigned char *buffer = pattern_at(sent);
        int offset = 0;
        while (offset < chunk) {
            struct io_uring_sqe *entry = io_uring_get_sqe(&ring);
            if (zero_copy) io_uring_prep_send_zc(entry, sender, buffer + offset, chunk - offset, 0, 0);
            else io_uring_prep_send(entry, sender, buffer + offset, chunk - offset, 0);
            io_uring_submit(&ring);
            // The send's result, then (zero copy) its notification: the buffer is ours again.
            int result = 0, waiting_result = 1, waiting_notification = 0;
            while (waiting_result || waiting_notification) {
                struct io_uring_cqe *completion;
                error = io_uring_wait_cqe(&ring, &completion);
                if (error) { fprintf(stderr, "io_uring_wait_cqe: %s\n", strerror(-error)); exit(1); }
                if (completion->flags & IORING_CQE_F_NOTIF) {
                    waiting_notification = 0;
                } else {
                    result = completion->res;
                    waiting_result = 0;
                    waiting_notification = (completion->flags & IORING_CQE_F_MORE) != 0;
                }
                io_uring_cqe_seen(&ring, completion);
            }
            if (result < 0) { fprintf(stderr, "send%s: %s\n", zero_copy ? "_zc" : "", strerror(-result)); exit(1); }
            offset += result;
        }
        sent += chunk;
    }
    double elapsed = now() - start, used = thread_cpu() - cpu;
    shutdown(sender, SHUT_WR);
    pthread_join(thread, 0);
    if (r.received != total || r.wrong) { fprintf(stderr, "received %lld of %lld bytes, %lld reads with wrong bytes\n", r.received, total, r.wrong); exit(2); }
    close(sender);
    close(listener);
    io_uring_queue_exit(&ring);
    *wall = elapsed;
    return used;
}

static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static double median(double *values, int count) { qsort(values, count, sizeof *values, by_value); return values[count / 2]; }

int main(int argc, char **argv) {
    int size = (argc > 1 ? atoi(argv[1]) : 64) << 10;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (size <= 0 || size > (16 << 20) || rounds <= 0 || rounds > 99) {
        fprintf(stderr, "usage: send-zc-reference [SIZE_KIB up to 16384] [ROUNDS up to 99]\n");
        return 64;
    }
    stream_pattern = aligned_alloc(4096, LONGEST + 4096);
    for (long long i = 0; i < LONGEST + PATTERN_PERIOD; i++) stream_pattern[i] = (unsigned char)(i % PATTERN_PERIOD);
    pin(0);
    double cpu[2][99], rate[2][99];
    for (int round = 0; round < rounds; round++) {
        for (int turn = 0; turn < 2; turn++) {
            int zero_copy = (round + turn) % 2;
            double wall;
            double used = run(zero_copy, size, &wall);
            cpu[zero_copy][round] = used * 1e6 / ((double)total / (64 << 10));
            rate[zero_copy][round] = total / wall / (1 << 30);
        }
    }
    for (int zero_copy = 0; zero_copy < 2; zero_copy++) {
        printf("%-8s %5d KiB writes: %.2f GiB/s, sender CPU %.1f us per 64 KiB (median of %d)\n", zero_copy ? "SEND_ZC" : "SEND",
            size >> 10, median(rate[zero_copy], rounds), median(cpu[zero_copy], rounds), rounds);
    }
    return 0;
}
