/* Shared by every part of the runtime: error reporting and safe file writing.
 *
 * Errors: a function that can fail takes a cnnrt_err * and returns -1 (or NULL) after
 * filling it with one sentence that names the file and the problem, e.g.
 *   "data/train-labels-idx1-ubyte: label 12 at index 40 is outside 0..9".
 * The caller decides whether to print it; nothing in the library exits the process. */
#ifndef CNNRT_COMMON_H
#define CNNRT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cnnrt_err {
    char msg[1024];
} cnnrt_err;

#if defined(__GNUC__)
#define CNNRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CNNRT_PRINTF(a, b)
#endif

/* Fills e (if not NULL) and returns -1, so that `return cnnrt_fail(e, ...)` reads well. */
int cnnrt_fail(cnnrt_err *e, const char *fmt, ...) CNNRT_PRINTF(2, 3);
/* Like cnnrt_fail, appending ": strerror(errno)". */
int cnnrt_fail_errno(cnnrt_err *e, const char *fmt, ...) CNNRT_PRINTF(2, 3);

/* Atomic file writing: data goes to "PATH.tmp.PID", is flushed and fsync'ed, then renamed
 * over PATH, and PATH's folder is fsync'ed so that the rename itself survives a power cut;
 * a crash or a full disk never leaves a half-written file in PATH's place.
 * Opening also removes "PATH.tmp.PID" files whose process is gone (a program killed while
 * writing, e.g. by SIGKILL, cannot remove its own).
 *   cnnrt_atomic_file f;
 *   if (cnnrt_atomic_open(&f, path, e)) return -1;
 *   fwrite(..., f.fp);
 *   return cnnrt_atomic_commit(&f, e);   // or cnnrt_atomic_abort(&f) on failure
 * commit checks every write (ferror), fflush, fsync, rename and the folder's fsync, and
 * removes the temporary file on any failure (when only the folder's fsync fails, PATH is
 * already the new file: the error says the save may not be durable). */
typedef struct cnnrt_atomic_file {
    FILE *fp;
    char path[4096];
    char tmp_path[4200];
} cnnrt_atomic_file;

int cnnrt_atomic_open(cnnrt_atomic_file *f, const char *path, cnnrt_err *e);
int cnnrt_atomic_commit(cnnrt_atomic_file *f, cnnrt_err *e);
void cnnrt_atomic_abort(cnnrt_atomic_file *f);

/* Removes PATH.tmp.PID files left by processes that no longer exist (never another live
 * process's, never our own). Called by cnnrt_atomic_open. */
void cnnrt_remove_stale_temporaries(const char *path);

/* An exclusive lock on "PATH.lock" (flock), held while a process owns PATH, e.g. while
 * `train` writes a weights file: a second process asking for it fails at once with
 * "PATH is in use by another process (PID 1234, holding PATH.lock); ...". The lock file
 * holds the owner's PID and is removed on release; one left by a killed process is harmless
 * (the kernel released its lock) and is taken over. */
typedef struct cnnrt_lock {
    int fd;   /* -1: not held */
    char path[4200];
} cnnrt_lock;

int cnnrt_lock_acquire(const char *path, cnnrt_lock *lock, cnnrt_err *e);
void cnnrt_lock_release(cnnrt_lock *lock);

/* Writes a whole buffer atomically. */
int cnnrt_write_file_atomic(const char *path, const void *data, size_t len, cnnrt_err *e);
/* Reads a whole file (up to max_len bytes; larger is an error, refused before reading when
 * the file is a regular one; a directory is named as such). Caller frees *data. */
int cnnrt_read_file(const char *path, size_t max_len, unsigned char **data, size_t *len,
                    cnnrt_err *e);

/* What a path names, for refusing anything but a regular file with a sentence that says
 * what it is instead. */
typedef enum cnnrt_file_kind {
    CNNRT_FILE_REGULAR,
    CNNRT_FILE_DIRECTORY,
    CNNRT_FILE_NAMED_PIPE,
    CNNRT_FILE_SOCKET,
    CNNRT_FILE_CHAR_DEVICE,    /* /dev/zero, a terminal ... */
    CNNRT_FILE_BLOCK_DEVICE,
    CNNRT_FILE_MISSING,        /* nothing there, or a symbolic link to nothing */
    CNNRT_FILE_LINK_LOOP,      /* symbolic links that lead back to themselves */
    CNNRT_FILE_UNOPENABLE,     /* there, but cannot be opened (permissions, ...) */
} cnnrt_file_kind;

/* Opens path for reading only if it is a regular file (following symbolic links), and never
 * waits doing so: anything else is refused before it is opened, since opening a named pipe
 * waits for a writer forever and a device may never end (/dev/zero) or act on being opened.
 * Returns a descriptor (O_CLOEXEC, blocking reads) and its size in *size; else -1, *kind
 * (may be NULL) saying what path is and e a sentence naming it, e.g.
 * "pics/cat/zero.png: is a character device, not a regular file". */
int cnnrt_open_regular(const char *path, cnnrt_file_kind *kind, uint64_t *size, cnnrt_err *e);

/* CRC-32 (the zlib/PNG polynomial). */
uint32_t cnnrt_crc32(uint32_t crc, const void *data, size_t len);

/* Checked allocation: on out-of-memory, prints "out of memory" and ends the process with
 * status 1 (the one failure a program cannot report sensibly where it happens).
 * cnnrt_aligned_alloc aligns to 64 bytes (a cache line, and AVX-512 safe). */
void *cnnrt_xmalloc(size_t n);
void *cnnrt_xcalloc(size_t n, size_t size);
void *cnnrt_aligned_alloc(size_t bytes);   /* zeroed, 64-byte aligned; free with free() */

#endif
