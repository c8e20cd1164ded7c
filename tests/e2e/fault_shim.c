/* An LD_PRELOAD library that makes one file-system call fail, for tests/e2e/fault_injection.sh:
 * the way a full disk, an I/O error or a failed rename would.
 *
 *   FAULT_PATH   the call fails only for files whose path contains this text
 *   FAULT_CALL   fwrite, fflush, fsync, fclose or rename (rename: the destination's path),
 *                or fsync_dir: an fsync of any folder (FAULT_PATH does not apply), as made
 *                after a rename to make it durable
 *   FAULT_NTH    fail the Nth such call (1-based; default 1); the others work
 *   FAULT_ERRNO  the errno set: ENOSPC (default), EIO, EDQUOT or EXDEV
 *
 * Streams are matched to paths by watching fopen; fsync by file descriptor. The program
 * under test writes through stdio (fopen/fwrite/fflush/fsync/fclose/rename), and these
 * calls go through the C library's dynamic symbols, so they can be intercepted. Writes
 * that stdio itself makes inside fflush or fclose are covered by failing those calls. When
 * the failure happens, one line goes to stderr ("fault_shim: failing fsync #1 ..."), so the
 * test can tell that the fault was injected. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_WATCHED = 64 };

static FILE *watched[MAX_WATCHED];
static int calls_seen;

static const char *setting(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int matches(const char *path)
{
    return path && strstr(path, setting("FAULT_PATH", "\x01")) != NULL;
}

static int fault_errno(void)
{
    const char *e = setting("FAULT_ERRNO", "ENOSPC");
    if (!strcmp(e, "EIO"))
        return EIO;
    if (!strcmp(e, "EDQUOT"))
        return EDQUOT;
    if (!strcmp(e, "EXDEV"))
        return EXDEV;
    return ENOSPC;
}

/* Counts a call of kind `call` on a matching file; 1 when this one must fail. */
static int should_fail(const char *call)
{
    if (strcmp(setting("FAULT_CALL", ""), call) != 0)
        return 0;
    if (++calls_seen != atoi(setting("FAULT_NTH", "1")))
        return 0;
    char line[128];
    int n = snprintf(line, sizeof line, "fault_shim: failing %s #%d\n", call, calls_seen);
    if (write(2, line, (size_t)n) < 0)
        return 1;
    return 1;
}

static int is_watched(FILE *fp)
{
    for (int i = 0; i < MAX_WATCHED; i++)
        if (fp && watched[i] == fp)
            return 1;
    return 0;
}

static void watch(FILE *fp, int on)
{
    for (int i = 0; i < MAX_WATCHED; i++)
        if (on ? watched[i] == NULL : watched[i] == fp) {
            watched[i] = on ? fp : NULL;
            return;
        }
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

FILE *fopen(const char *path, const char *mode)
{
    FILE *fp = REAL(fopen)(path, mode);
    if (fp && matches(path) && strchr(mode, 'w'))
        watch(fp, 1);
    return fp;
}

FILE *fopen64(const char *path, const char *mode)
{
    FILE *fp = REAL(fopen64)(path, mode);
    if (fp && matches(path) && strchr(mode, 'w'))
        watch(fp, 1);
    return fp;
}

size_t fwrite(const void *data, size_t size, size_t count, FILE *fp)
{
    if (is_watched(fp) && should_fail("fwrite")) {
        errno = fault_errno();
        return 0;
    }
    return REAL(fwrite)(data, size, count, fp);
}

int fflush(FILE *fp)
{
    if (is_watched(fp) && should_fail("fflush")) {
        errno = fault_errno();
        return EOF;
    }
    return REAL(fflush)(fp);
}

int fsync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (should_fail("fsync_dir")) {
            errno = fault_errno();
            return -1;
        }
        return REAL(fsync)(fd);
    }
    for (int i = 0; i < MAX_WATCHED; i++)
        if (watched[i] && fileno(watched[i]) == fd && should_fail("fsync")) {
            errno = fault_errno();
            return -1;
        }
    return REAL(fsync)(fd);
}

int fclose(FILE *fp)
{
    int watched_file = is_watched(fp);
    if (watched_file)
        watch(fp, 0);
    if (watched_file && should_fail("fclose")) {
        /* The stream is closed all the same, as a real failing fclose does. */
        REAL(fclose)(fp);
        errno = fault_errno();
        return EOF;
    }
    return REAL(fclose)(fp);
}

int rename(const char *from, const char *to)
{
    if (matches(to) && should_fail("rename")) {
        errno = fault_errno();
        return -1;
    }
    return REAL(rename)(from, to);
}
