#include "CXattr.h"

#include <sys/xattr.h>

long torus_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }
long torus_fgetxattr(int fd, const char *name, void *value, size_t size) { return fgetxattr(fd, name, value, size); }
int torus_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags) {
    return fsetxattr(fd, name, value, size, flags);
}
int torus_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }

long torus_listxattr(const char *path, char *list, size_t size) { return listxattr(path, list, size); }
long torus_getxattr(const char *path, const char *name, void *value, size_t size) { return getxattr(path, name, value, size); }
int torus_setxattr(const char *path, const char *name, const void *value, size_t size, int flags) {
    return setxattr(path, name, value, size, flags);
}
int torus_removexattr(const char *path, const char *name) { return removexattr(path, name); }

long torus_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }
long torus_lgetxattr(const char *path, const char *name, void *value, size_t size) { return lgetxattr(path, name, value, size); }
int torus_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags) {
    return lsetxattr(path, name, value, size, flags);
}
