#ifndef C_READ_REFERENCE_H
#define C_READ_REFERENCE_H

/// The hand-written C liburing reader torus-bench compares Torus's file reads with: `threads`
/// threads, each with its own ring keeping `depth` reads of `size` bytes in flight, take jobs
/// from one shared counter until `jobs` are done. Job j reads block j (`sequential`) or a
/// pseudo-random block (the same scatter as torus-bench's Swift readers) of the file's
/// `blocks` blocks. `options`: `C_READ_FIXED_FILE` registers the descriptor in each ring's file
/// table and the reads use `IOSQE_FIXED_FILE` (no fget/fput per read); `C_READ_FIXED_BUFFERS`
/// registers each slot's buffer and reads with `IORING_OP_READ_FIXED` (no page lookup of the
/// user buffer per read).
/// Returns the bytes read, or -errno of the first failure.
enum { C_READ_FIXED_FILE = 1, C_READ_FIXED_BUFFERS = 2 };
long uring_read_reference(const char *path, int threads, int size, int depth, long jobs, int sequential,
                          int options);

#endif
