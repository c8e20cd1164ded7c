/* Error reporting and atomic file writing shared by the whole runtime. */
#include "cnnrt_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

int cnnrt_fail(cnnrt_err *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int cnnrt_fail_errno(cnnrt_err *e, const char *fmt, ...)
{
    int saved = errno;
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        size_t used = strlen(e->msg);
        snprintf(e->msg + used, sizeof e->msg - used, ": %s", strerror(saved));
    }
    return -1;
}

/* Splits path into its directory ("." when none) and its last component. */
static void split_path(const char *path, char *dir, size_t dir_size, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dir_size, ".");
        *base = path;
    } else {
        snprintf(dir, dir_size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        *base = slash + 1;
    }
}

/* A process id that no longer exists (kill(pid, 0) says "no such process"). */
static int pid_is_dead(long pid)
{
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void cnnrt_remove_stale_temporaries(const char *path)
{
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    size_t base_len = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp.", 5) != 0)
            continue;
        const char *digits = name + base_len + 5;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (errno || end == digits || *end || *digits < '1' || *digits > '9')
            continue;
        if (pid != (long)getpid() && pid_is_dead(pid)) {
            char stale[8300];
            snprintf(stale, sizeof stale, "%s/%s", dir, name);
            remove(stale);
        }
    }
    closedir(d);
}

/* The rename is only durable once the folder holding the file is synced: without it, a
 * power cut soon after can bring back the old file (or, for a new file, no file). File
 * systems that cannot sync a folder say EINVAL; nothing more can be done there. */
static int sync_folder_of(const char *path, cnnrt_err *e)
{
    char dir[4096];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cnnrt_fail_errno(e, "%s: saved, but its folder %s cannot be opened to make the "
                                "save durable", path, dir);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0 && saved != EINVAL) {
        errno = saved;
        return cnnrt_fail_errno(e, "%s: saved, but syncing its folder %s failed, so the save "
                                "may not survive a crash", path, dir);
    }
    return 0;
}

int cnnrt_atomic_open(cnnrt_atomic_file *f, const char *path, cnnrt_err *e)
{
    memset(f, 0, sizeof *f);
    if (strlen(path) >= sizeof f->path)
        return cnnrt_fail(e, "%.200s...: path too long", path);
    /* Renaming over a device, a pipe or a directory would replace it with a plain file
     * (an --out /dev/null run by root would destroy /dev/null): refuse instead. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return cnnrt_fail(e, "%s: exists and is not a regular file (a directory, device or "
                          "pipe); choose another file name", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    cnnrt_remove_stale_temporaries(path);
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.%ld", path, (long)getpid());
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp)
        return cnnrt_fail_errno(e, "%s: cannot create file", path);
    return 0;
}

void cnnrt_atomic_abort(cnnrt_atomic_file *f)
{
    if (f->fp) {
        fclose(f->fp);
        f->fp = NULL;
    }
    if (f->tmp_path[0])
        remove(f->tmp_path);
}

int cnnrt_atomic_commit(cnnrt_atomic_file *f, cnnrt_err *e)
{
    int failed = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    if (failed) {
        cnnrt_fail_errno(e, "%s: write failed (disk full?); the previous file is untouched",
                         f->path);
        cnnrt_atomic_abort(f);
        return -1;
    }
    if (fclose(f->fp) != 0) {
        f->fp = NULL;
        cnnrt_fail_errno(e, "%s: write failed; the previous file is untouched", f->path);
        remove(f->tmp_path);
        return -1;
    }
    f->fp = NULL;
    if (rename(f->tmp_path, f->path) != 0) {
        cnnrt_fail_errno(e, "%s: cannot replace file", f->path);
        remove(f->tmp_path);
        return -1;
    }
    return sync_folder_of(f->path, e);
}

int cnnrt_write_file_atomic(const char *path, const void *data, size_t len, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    if (len && fwrite(data, 1, len, f.fp) != len) {
        cnnrt_fail_errno(e, "%s: write failed (disk full?); the previous file is untouched",
                         path);
        cnnrt_atomic_abort(&f);
        return -1;
    }
    return cnnrt_atomic_commit(&f, e);
}

int cnnrt_read_file(const char *path, size_t max_len, unsigned char **data, size_t *len,
                    cnnrt_err *e)
{
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cnnrt_fail_errno(e, "%s: cannot open", path);
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && (S_ISDIR(st.st_mode) ||
                                        (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_len))) {
        fclose(fp);
        if (S_ISDIR(st.st_mode))
            return cnnrt_fail(e, "%s: is a directory", path);
        return cnnrt_fail(e, "%s: file is larger than %zu bytes", path, max_len);
    }
    size_t cap = 1 << 16, used = 0;
    unsigned char *buf = cnnrt_xmalloc(cap);
    for (;;) {
        if (used == cap) {
            if (cap >= max_len) {
                free(buf);
                fclose(fp);
                return cnnrt_fail(e, "%s: file is larger than %zu bytes", path, max_len);
            }
            cap = cap * 2 > max_len ? max_len : cap * 2;
            unsigned char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(fp);
                return cnnrt_fail(e, "%s: out of memory reading file", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + used, 1, cap - used, fp);
        used += got;
        if (got == 0)
            break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        return cnnrt_fail(e, "%s: read error", path);
    }
    *data = buf;
    *len = used;
    return 0;
}

/* ---- Opening a regular file --------------------------------------------------------------- */

static cnnrt_file_kind kind_of_mode(mode_t mode)
{
    if (S_ISREG(mode))
        return CNNRT_FILE_REGULAR;
    if (S_ISDIR(mode))
        return CNNRT_FILE_DIRECTORY;
    if (S_ISFIFO(mode))
        return CNNRT_FILE_NAMED_PIPE;
    if (S_ISSOCK(mode))
        return CNNRT_FILE_SOCKET;
    if (S_ISBLK(mode))
        return CNNRT_FILE_BLOCK_DEVICE;
    return CNNRT_FILE_CHAR_DEVICE;
}

/* What a failed stat or open (errno saved in err) says about path. */
static cnnrt_file_kind kind_of_error(int err)
{
    if (err == ELOOP)
        return CNNRT_FILE_LINK_LOOP;
    if (err == ENOENT || err == ENOTDIR)
        return CNNRT_FILE_MISSING;
    return CNNRT_FILE_UNOPENABLE;
}

static int refuse_kind(const char *path, cnnrt_file_kind kind, int err, cnnrt_err *e)
{
    static const char *const not_regular[] = {
        [CNNRT_FILE_NAMED_PIPE] = "a named pipe",
        [CNNRT_FILE_SOCKET] = "a socket",
        [CNNRT_FILE_CHAR_DEVICE] = "a character device",
        [CNNRT_FILE_BLOCK_DEVICE] = "a block device",
    };
    struct stat st;
    switch (kind) {
    case CNNRT_FILE_DIRECTORY:
        return cnnrt_fail(e, "%s: is a directory", path);
    case CNNRT_FILE_LINK_LOOP:
        return cnnrt_fail(e, "%s: cannot open: a loop of symbolic links", path);
    case CNNRT_FILE_MISSING:
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            return cnnrt_fail(e, "%s: cannot open: a symbolic link to a file that does not "
                                 "exist", path);
        break;
    case CNNRT_FILE_NAMED_PIPE:
    case CNNRT_FILE_SOCKET:
    case CNNRT_FILE_CHAR_DEVICE:
    case CNNRT_FILE_BLOCK_DEVICE:
        return cnnrt_fail(e, "%s: is %s, not a regular file", path, not_regular[kind]);
    default:
        break;
    }
    errno = err;
    return cnnrt_fail_errno(e, "%s: cannot open", path);
}

int cnnrt_open_regular(const char *path, cnnrt_file_kind *kind, uint64_t *size, cnnrt_err *e)
{
    struct stat st;
    int fd = -1, err = 0;
    cnnrt_file_kind found = CNNRT_FILE_UNOPENABLE;
    if (stat(path, &st) != 0)
        err = errno;
    else if ((found = kind_of_mode(st.st_mode)) == CNNRT_FILE_REGULAR) {
        /* O_NONBLOCK in case path became a named pipe since the stat; fstat says what was
         * opened in the end. */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0)
            err = errno;
        else
            found = kind_of_mode(st.st_mode);
    }
    if (err)
        found = kind_of_error(err);
    if (kind)
        *kind = found;
    if (fd >= 0 && found != CNNRT_FILE_REGULAR) {
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        return refuse_kind(path, found, err, e);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *size = (uint64_t)st.st_size;
    return fd;
}

uint32_t cnnrt_crc32(uint32_t crc, const void *data, size_t len)
{
    /* zlib's crc32 takes a uInt length; feed it in pieces. */
    const unsigned char *p = data;
    while (len > 0) {
        uInt piece = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, piece);
        p += piece;
        len -= piece;
    }
    return crc;
}

/* An error, not a crash: status 1 like any other error, no core dump. _exit rather than
 * exit because a worker thread may be the one that ran out, while others still run. A file
 * being written stays a temporary file; the file it would replace is untouched. */
static void out_of_memory(size_t n)
{
    fprintf(stderr, "cnnc runtime: error: out of memory (asked for %zu bytes)\n", n);
    fflush(stdout);
    _exit(1);
}

void *cnnrt_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *cnnrt_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *cnnrt_aligned_alloc(size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p)
        out_of_memory(bytes);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

/* ---- Locks ---------------------------------------------------------------------------------- */

int cnnrt_lock_acquire(const char *path, cnnrt_lock *lock, cnnrt_err *e)
{
    memset(lock, 0, sizeof *lock);
    lock->fd = -1;
    if (snprintf(lock->path, sizeof lock->path, "%s.lock", path) >= (int)sizeof lock->path)
        return cnnrt_fail(e, "%.200s...: path too long", path);
    /* Another process may remove the lock file between our open and our flock (it releases
     * by unlinking, then closing): a lock on a file that is no longer at lock->path protects
     * nothing, so try again with the new one. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return cnnrt_fail_errno(e, "%s: cannot create the lock file %s", path, lock->path);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int busy = errno == EWOULDBLOCK;
            char holder[32] = "";
            ssize_t n = busy ? read(fd, holder, sizeof holder - 1) : -1;
            close(fd);
            if (!busy)
                return cnnrt_fail_errno(e, "%s: cannot lock %s", path, lock->path);
            holder[n > 0 ? n : 0] = '\0';
            long pid = strtol(holder, NULL, 10);
            if (pid > 0)
                return cnnrt_fail(e, "%s is in use by another process (PID %ld, holding %s); "
                                     "wait for it to finish or choose another file", path, pid,
                                  lock->path);
            return cnnrt_fail(e, "%s is in use by another process (holding %s); wait for it "
                                 "to finish or choose another file", path, lock->path);
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(lock->path, &now) == 0 && held.st_dev == now.st_dev &&
            held.st_ino == now.st_ino) {
            char pid[32];
            int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
                /* The PID is only for the message a second process prints: not fatal. */
            }
            lock->fd = fd;
            return 0;
        }
        close(fd);
    }
    return cnnrt_fail(e, "%s: cannot lock %s: it keeps being replaced", path, lock->path);
}

void cnnrt_lock_release(cnnrt_lock *lock)
{
    if (lock->fd < 0)
        return;
    unlink(lock->path);   /* while still holding it: see cnnrt_lock_acquire */
    close(lock->fd);
    lock->fd = -1;
}
