// The two copiers issue 18 names as torus-cp's peers besides cp, in C, for `torus-bench --only cp`:
//
//   copy-reference pool N SOURCE DESTINATION   N threads taking files from one list, each copied
//                                              with open, copy_file_range until 0, close (the
//                                              core of cp's loop, without its metadata calls)
//   copy-reference uring QD SOURCE DESTINATION one thread, io_uring reads and writes of 1 MiB
//                                              chunks, QD of them in flight across files
//
// Both copy regular files and directories (mode bits only) and fail on anything else, with a
// message naming the call and the path. Exit 0 on success, 1 on an error, 64 on a usage error.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file {
    char *source, *destination;
    off_t size;
    mode_t mode;
};

static struct file *files;
static size_t file_count, file_capacity;

static void fail(const char *call, const char *path, int error) {
    fprintf(stderr, "copy-reference: %s %s: %s\n", call, path, strerror(error));
    exit(1);
}

static char *join(const char *directory, const char *name) {
    char *path;
    if (asprintf(&path, "%s/%s", directory, name) < 0) fail("asprintf", name, ENOMEM);
    return path;
}

/// Makes `destination` for the directory `source` and lists its files, recursively.
static void walk(const char *source, const char *destination, mode_t mode) {
    if (mkdir(destination, 0700) != 0) fail("mkdir", destination, errno);
    DIR *directory = opendir(source);
    if (!directory) fail("opendir", source, errno);
    struct dirent *entry;
    while ((errno = 0, entry = readdir(directory))) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        char *from = join(source, entry->d_name), *to = join(destination, entry->d_name);
        struct stat status;
        if (lstat(from, &status) != 0) fail("lstat", from, errno);
        if (S_ISDIR(status.st_mode)) {
            walk(from, to, status.st_mode & 07777);
            free(from);
            free(to);
        } else if (S_ISREG(status.st_mode)) {
            if (file_count == file_capacity) {
                file_capacity = file_capacity ? 2 * file_capacity : 1024;
                files = realloc(files, file_capacity * sizeof *files);
                if (!files) fail("realloc", source, ENOMEM);
            }
            files[file_count++] = (struct file){from, to, status.st_size, status.st_mode & 07777};
        } else {
            fail("copy (not a regular file or directory)", from, EINVAL);
        }
    }
    if (errno) fail("readdir", source, errno);
    closedir(directory);
    if (chmod(destination, mode) != 0) fail("chmod", destination, errno);
}

// MARK: the thread pool

static atomic_size_t next_file;

static void *pool_worker(void *unused) {
    (void)unused;
    for (;;) {
        size_t index = atomic_fetch_add(&next_file, 1);
        if (index >= file_count) return NULL;
        struct file *file = &files[index];
        int input = open(file->source, O_RDONLY | O_CLOEXEC);
        if (input < 0) fail("open", file->source, errno);
        int output = open(file->destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file->mode);
        if (output < 0) fail("open", file->destination, errno);
        for (;;) {
            ssize_t n = copy_file_range(input, NULL, output, NULL, 1 << 30, 0);
            if (n < 0) fail("copy_file_range", file->destination, errno);
            if (n == 0) break;
        }
        if (close(input) != 0) fail("close", file->source, errno);
        if (close(output) != 0) fail("close", file->destination, errno);
    }
}

static void copy_with_pool(int threads) {
    pthread_t workers[threads];
    for (int i = 0; i < threads; i++) {
        int error = pthread_create(&workers[i], NULL, pool_worker, NULL);
        if (error) fail("pthread_create", "", error);
    }
    for (int i = 0; i < threads; i++) pthread_join(workers[i], NULL);
}

// MARK: io_uring

enum { chunk_size = 1 << 20 };

struct open_file {
    int input, output;
    size_t chunks_left;
};

struct slot {
    size_t file;
    off_t offset;
    unsigned length, done;
    int writing;
    char *buffer;
};

static void submit_slot(struct io_uring *ring, struct open_file *open_files, struct slot *slot) {
    struct io_uring_sqe *entry = io_uring_get_sqe(ring);
    if (!entry) {
        int submitted = io_uring_submit(ring);
        if (submitted < 0) fail("io_uring_submit", files[slot->file].source, -submitted);
        entry = io_uring_get_sqe(ring);
        if (!entry) fail("io_uring_get_sqe", files[slot->file].source, EBUSY);
    }
    struct open_file *file = &open_files[slot->file];
    if (slot->writing)
        io_uring_prep_write(entry, file->output, slot->buffer + slot->done, slot->length - slot->done, slot->offset + slot->done);
    else
        io_uring_prep_read(entry, file->input, slot->buffer + slot->done, slot->length - slot->done, slot->offset + slot->done);
    io_uring_sqe_set_data(entry, slot);
}

static void copy_with_ring(unsigned depth) {
    struct io_uring ring;
    int error = io_uring_queue_init(depth * 2, &ring, 0);
    if (error < 0) fail("io_uring_queue_init", "", -error);
    struct open_file *open_files = calloc(file_count, sizeof *open_files);
    struct slot *slots = calloc(depth, sizeof *slots);
    struct slot **free_slots = calloc(depth, sizeof *free_slots);
    if (!open_files || !slots || !free_slots) fail("calloc", "", ENOMEM);
    for (unsigned i = 0; i < depth; i++) {
        if (posix_memalign((void **)&slots[i].buffer, 4096, chunk_size)) fail("posix_memalign", "", ENOMEM);
        free_slots[i] = &slots[i];
    }
    unsigned free_count = depth, in_flight = 0;
    size_t file = 0;
    off_t offset = 0;
    for (;;) {
        // Start chunks while there are slots and chunks; files open as their first chunk starts.
        while (free_count > 0 && file < file_count) {
            struct file *source = &files[file];
            if (offset == 0) {
                open_files[file].input = open(source->source, O_RDONLY | O_CLOEXEC);
                if (open_files[file].input < 0) fail("open", source->source, errno);
                open_files[file].output = open(source->destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, source->mode);
                if (open_files[file].output < 0) fail("open", source->destination, errno);
                open_files[file].chunks_left = (size_t)((source->size + chunk_size - 1) / chunk_size);
                if (source->size == 0) {
                    if (close(open_files[file].input) != 0) fail("close", source->source, errno);
                    if (close(open_files[file].output) != 0) fail("close", source->destination, errno);
                    file++;
                    continue;
                }
            }
            struct slot *slot = free_slots[--free_count];
            off_t left = source->size - offset;
            *slot = (struct slot){file, offset, (unsigned)(left < chunk_size ? left : chunk_size), 0, 0, slot->buffer};
            submit_slot(&ring, open_files, slot);
            in_flight++;
            offset += slot->length;
            if (offset >= source->size) {
                file++;
                offset = 0;
            }
        }
        if (in_flight == 0) break;
        int submitted = io_uring_submit_and_wait(&ring, 1);
        if (submitted < 0 && submitted != -EINTR) fail("io_uring_submit_and_wait", "", -submitted);
        struct io_uring_cqe *completion;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, completion) {
            seen++;
            struct slot *slot = io_uring_cqe_get_data(completion);
            struct file *source = &files[slot->file];
            if (completion->res < 0) fail(slot->writing ? "write" : "read", slot->writing ? source->destination : source->source, -completion->res);
            // A read of 0 is a file that shrank; a write of 0 would repeat forever.
            if (completion->res == 0) fail(slot->writing ? "write (wrote nothing)" : "read (the file shrank)", slot->writing ? source->destination : source->source, EIO);
            slot->done += (unsigned)completion->res;
            if (slot->done < slot->length) {
                submit_slot(&ring, open_files, slot);  // a short read or write: the rest
                continue;
            }
            if (!slot->writing) {
                slot->writing = 1;
                slot->done = 0;
                submit_slot(&ring, open_files, slot);
                continue;
            }
            in_flight--;
            free_slots[free_count++] = slot;
            struct open_file *done = &open_files[slot->file];
            if (--done->chunks_left == 0) {
                if (close(done->input) != 0) fail("close", source->source, errno);
                if (close(done->output) != 0) fail("close", source->destination, errno);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "pool") && strcmp(argv[1], "uring")) || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: copy-reference pool THREADS|uring DEPTH SOURCE DESTINATION\n");
        return 64;
    }
    struct stat status;
    if (stat(argv[3], &status) != 0) fail("stat", argv[3], errno);
    if (!S_ISDIR(status.st_mode)) fail("copy (not a directory)", argv[3], ENOTDIR);
    walk(argv[3], argv[4], status.st_mode & 07777);
    if (!strcmp(argv[1], "pool"))
        copy_with_pool(atoi(argv[2]));
    else
        copy_with_ring((unsigned)atoi(argv[2]));
    return 0;
}
