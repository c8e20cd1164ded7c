/* The runtime's file safety: atomic writes remove temporaries of dead processes (never a live
 * one's), the lock refuses a second owner naming the first's PID, reading a directory or
 * an oversized file is refused before reading, and only regular files are opened by
 * cnnrt_open_regular (named pipes, devices, folders and broken links are named as such). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cnnrt_common.h"
#include "test_util.h"

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A process id that has just ended (its parent reaped it). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void test_stale_temporaries_removed(void **state)
{
    (void)state;
    const char *target = tmp_path("out.csv");
    char dead[600], live[600], other[600], ours[600];
    snprintf(dead, sizeof dead, "%s.tmp.%ld", target, (long)dead_pid());
    snprintf(live, sizeof live, "%s.tmp.%ld", target, (long)getppid());
    snprintf(other, sizeof other, "%s.tmp.%ld", tmp_path("other.csv"), (long)dead_pid());
    snprintf(ours, sizeof ours, "%s.tmp.12x", target);   /* not a PID: not ours to judge */
    write_bytes(dead, "", 0);
    write_bytes(live, "", 0);
    write_bytes(other, "", 0);
    write_bytes(ours, "", 0);
    cnnrt_err e;
    assert_int_equal(cnnrt_write_file_atomic(target, "a,b\n", 4, &e), 0);
    assert_false(exists(dead));
    assert_true(exists(live));    /* the parent (the test runner) is alive */
    assert_true(exists(other));   /* another target's: left for its own next write */
    assert_true(exists(ours));
    remove(live);
    remove(other);
    remove(ours);
}

static void test_lock_refuses_second_owner(void **state)
{
    (void)state;
    const char *path = tmp_path("model.weights");
    cnnrt_lock first, second;
    cnnrt_err e;
    assert_int_equal(cnnrt_lock_acquire(path, &first, &e), 0);
    /* flock belongs to the open file, so a second open in the same process is refused too. */
    assert_int_equal(cnnrt_lock_acquire(path, &second, &e), -1);
    char want[700];
    snprintf(want, sizeof want, "%s is in use by another process (PID %ld", path,
             (long)getpid());
    if (!strstr(e.msg, want))
        fail_msg("message \"%s\" should contain \"%s\"", e.msg, want);
    cnnrt_lock_release(&first);
    char lock_path[700];
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    assert_false(exists(lock_path));
    /* A lock file left by a killed owner holds no lock: it is taken over. */
    write_bytes(lock_path, "99999999\n", 9);
    assert_int_equal(cnnrt_lock_acquire(path, &second, &e), 0);
    cnnrt_lock_release(&second);
    assert_int_equal(cnnrt_lock_acquire(tmp_path("no-such-dir/w"), &first, &e), -1);
    assert_non_null(strstr(e.msg, "cannot create the lock file"));
}

static void test_read_file_refusals(void **state)
{
    (void)state;
    unsigned char *data;
    size_t len;
    cnnrt_err e;
    assert_int_equal(cnnrt_read_file(tmp_dir, 1 << 20, &data, &len, &e), -1);
    assert_non_null(strstr(e.msg, "is a directory"));
    const char *big = tmp_path("big.bin");
    FILE *f = fopen(big, "wb");
    assert_int_equal(ftruncate(fileno(f), (off_t)1 << 32), 0);   /* sparse: 4 GiB */
    fclose(f);
    assert_int_equal(cnnrt_read_file(big, 1 << 20, &data, &len, &e), -1);
    assert_non_null(strstr(e.msg, "larger than 1048576 bytes"));
    remove(big);
}

/* cnnrt_open_regular refuses path (without waiting), says what it is and names it. */
static void expect_refused(const char *path, cnnrt_file_kind kind, const char *words)
{
    cnnrt_file_kind found = CNNRT_FILE_REGULAR;
    uint64_t size = 12345;
    cnnrt_err e = {{0}};
    assert_int_equal(cnnrt_open_regular(path, &found, &size, &e), -1);
    assert_int_equal(found, kind);
    assert_int_equal(size, 12345);
    if (!strstr(e.msg, path) || !strstr(e.msg, words))
        fail_msg("message '%s' should name '%s' and say '%s'", e.msg, path, words);
}

static void test_open_regular_says_what_a_path_is(void **state)
{
    (void)state;
    /* A regular file, also through a link: opened, blocking, with its size. */
    char plain[600], linked[600], fifo[600], zero[600], dangling[600], loop[600];
    snprintf(plain, sizeof plain, "%s", tmp_path("plain.png"));
    snprintf(linked, sizeof linked, "%s", tmp_path("linked.png"));
    snprintf(fifo, sizeof fifo, "%s", tmp_path("pipe.png"));
    snprintf(zero, sizeof zero, "%s", tmp_path("zero.png"));
    snprintf(dangling, sizeof dangling, "%s", tmp_path("dangling.png"));
    snprintf(loop, sizeof loop, "%s", tmp_path("loop.png"));
    write_bytes(plain, "12345", 5);
    assert_int_equal(symlink(plain, linked), 0);
    cnnrt_file_kind kind = CNNRT_FILE_MISSING;
    uint64_t size = 0;
    cnnrt_err e;
    int fd = cnnrt_open_regular(linked, &kind, &size, &e);
    assert_true(fd >= 0);
    assert_int_equal(kind, CNNRT_FILE_REGULAR);
    assert_int_equal(size, 5);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);

    /* Nothing else is opened: a named pipe without a writer would hang this test. */
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("/dev/zero", zero), 0);
    assert_int_equal(symlink("nowhere.png", dangling), 0);
    assert_int_equal(symlink("loop.png", loop), 0);   /* relative: a link to itself */
    expect_refused(fifo, CNNRT_FILE_NAMED_PIPE, "is a named pipe, not a regular file");
    expect_refused(zero, CNNRT_FILE_CHAR_DEVICE, "is a character device, not a regular file");
    expect_refused(tmp_dir, CNNRT_FILE_DIRECTORY, "is a directory");
    expect_refused(dangling, CNNRT_FILE_MISSING, "a symbolic link to a file that does not exist");
    expect_refused(loop, CNNRT_FILE_LINK_LOOP, "a loop of symbolic links");
    expect_refused(tmp_path("absent.png"), CNNRT_FILE_MISSING, "No such file or directory");
    expect_refused(tmp_path("plain.png/inside"), CNNRT_FILE_MISSING, "cannot open");
    if (geteuid() != 0) {   /* root opens anything */
        assert_int_equal(chmod(plain, 0), 0);
        expect_refused(plain, CNNRT_FILE_UNOPENABLE, "Permission denied");
    }
    /* The kind is optional, the message too. */
    assert_int_equal(cnnrt_open_regular(fifo, NULL, &size, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_temporaries_removed),
        cmocka_unit_test(test_lock_refuses_second_owner),
        cmocka_unit_test(test_read_file_refusals),
        cmocka_unit_test(test_open_regular_says_what_a_path_is),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
