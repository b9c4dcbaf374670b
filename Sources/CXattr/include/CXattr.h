// The extended-attribute calls of <sys/xattr.h>, which Swift's Glibc module does not import, for
// torus-cp (and its tests). Each wrapper is the libc call as it is: -1 with errno set on failure. Only <stddef.h>
// here, so that no system header is seen by Swift twice (once through Glibc, once through here).
#ifndef CXATTR_H
#define CXATTR_H

#include <stddef.h>

long torus_flistxattr(int fd, char *list, size_t size);
long torus_fgetxattr(int fd, const char *name, void *value, size_t size);
int torus_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
int torus_fremovexattr(int fd, const char *name);

/// The calls by path that follow a final symbolic link: only for `/proc/self/fd/N` paths of
/// `O_PATH` descriptors, which name the opened inode itself (a symbolic link, a FIFO, a device).
long torus_listxattr(const char *path, char *list, size_t size);
long torus_getxattr(const char *path, const char *name, void *value, size_t size);
int torus_setxattr(const char *path, const char *name, const void *value, size_t size, int flags);
int torus_removexattr(const char *path, const char *name);

/// The calls on a path that never follow a final symbolic link: for the tests, which read and
/// write the attributes of the trees they compare.
long torus_llistxattr(const char *path, char *list, size_t size);
long torus_lgetxattr(const char *path, const char *name, void *value, size_t size);
int torus_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags);

#endif
