/* Linking a generated object into a native program with the system C compiler, and the
 * C header that accompanies `cnnc -c`. See link.h. */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_command.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

void cnnc_output_error(cnnc_diag *d, const char *fmt, ...)
{
    char msg[4096 + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *model_file = d->file;
    d->file = NULL;   /* printed as "cnnc: error: ..." */
    cnnc_error(d, NOWHERE, "%s", msg);
    d->file = model_file;
}

int cnnc_write_output(const char *path, const void *data, size_t len, cnnc_diag *d)
{
    int to_stdout = strcmp(path, "-") == 0;   /* -o - (as LLVM's own writer took it) */
    if (to_stdout) {
        path = "standard output";
        fflush(stdout);   /* what stdio holds (--dump-ir=lowered) comes first */
    }
    int fd = to_stdout ? STDOUT_FILENO : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        cnnc_output_error(d, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cnnc_output_error(d, "cannot write '%s': %s", path,
                              n < 0 ? strerror(errno) : "nothing was written");
            if (!to_stdout)
                close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (!to_stdout && close(fd) != 0) {
        cnnc_output_error(d, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cnnc_temp_object_path(const char *output, int part, char *buf, size_t len, cnnc_diag *d)
{
    int n = snprintf(buf, len, "%s.cnnc-%ld-%d.o", output, (long)getpid(), part);
    if (n < 0 || (size_t)n >= len) {
        cnnc_output_error(d, "output path '%s' is too long", output);
        return -1;
    }
    return 0;
}

/* Directory holding both runtime archives, or -1 with a message listing where it looked. */
static int find_runtime(const cnnc_codegen_options *opts, char *dir, size_t len, cnnc_diag *d)
{
    char candidates[4][PATH_MAX];
    int n = 0;
    if (opts->runtime_lib_dir)
        snprintf(candidates[n++], PATH_MAX, "%s", opts->runtime_lib_dir);
    const char *env = getenv("CNNC_RUNTIME_DIR");
    if (env && *env)
        snprintf(candidates[n++], PATH_MAX, "%s", env);
    char exe[PATH_MAX];
    ssize_t r = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (r > 0) {
        exe[r] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(candidates[n++], PATH_MAX, "%.*s/../lib", PATH_MAX - 16, exe);
        }
    }
#ifdef CNNC_INSTALL_LIBDIR
    snprintf(candidates[n++], PATH_MAX, "%s", CNNC_INSTALL_LIBDIR);
#endif
    for (int i = 0; i < n; i++) {
        char a[PATH_MAX + 32], b[PATH_MAX + 32];
        int la = snprintf(a, sizeof a, "%s/libcnnrt.a", candidates[i]);
        int lb = snprintf(b, sizeof b, "%s/libcnnrt_main.a", candidates[i]);
        if (la > 0 && (size_t)la < sizeof a && lb > 0 && (size_t)lb < sizeof b &&
            file_exists(a) && file_exists(b)) {
            int ld = snprintf(dir, len, "%s", candidates[i]);
            if (ld > 0 && (size_t)ld < len)
                return 0;
        }
    }
    cnnc_error(d, NOWHERE, "cannot find the cnnc runtime (libcnnrt.a and libcnnrt_main.a)");
    for (int i = 0; i < n; i++)
        cnnc_note(d, NOWHERE, "looked in %s", candidates[i]);
    cnnc_note(d, NOWHERE, "build the 'cnnrt' and 'cnnrt_main' targets, or set CNNC_RUNTIME_DIR");
    return -1;
}

int cnnc_run_linker(char *const argv[], const char *output, const char *cannot_run,
                    const char *purpose, const char *install_hint, cnnc_diag *d)
{
    int status;
    cnnrt_run_result run = cnnrt_run_command(argv, &status);
    if (run == CNNRT_RUN_NOT_STARTED) {
        cnnc_error(d, NOWHERE, "%s '%s'%s: %s", cannot_run, argv[0], purpose, strerror(errno));
        cnnc_note(d, NOWHERE, "%s", install_hint);
        return -1;
    }
    if (run == CNNRT_RUN_WAIT_FAILED) {
        cnnc_error(d, NOWHERE, "waiting for '%s' failed: %s", argv[0], strerror(errno));
        return -1;
    }
    if (status != 0) {
        cnnc_output_error(d, "cannot write '%s': linking with '%s' failed (exit status %d)",
                          output, argv[0], status);
        return -1;
    }
    return 0;
}

/* Whether an executable `name` is in a directory of $PATH. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        char file[PATH_MAX];
        /* an empty entry is the working directory, as for execvp */
        int n = len ? snprintf(file, sizeof file, "%.*s/%s", (int)len, path, name)
                    : snprintf(file, sizeof file, "./%s", name);
        if (n > 0 && (size_t)n < sizeof file && access(file, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

/* The linker cnnc asks its default C compiler for: gold, when binutils installed it, links
 * a program in about half the CPU time of the default (bfd): models/mnist.cnn's program in
 * 0.06-0.07 s against 0.12-0.15 s, and the link is the last step of every compile, on
 * no other thread's time. (lld-19 took as long as bfd: it loads the whole of libLLVM.)
 * Without gold the compiler's own default is used; a C compiler the user chose ($CC) is
 * left to its own default too, since not every C compiler takes -fuse-ld. So is an output
 * that exists and is not a regular file: gold retries a write to /dev/full for ever, where
 * bfd fails (a full disk's ENOSPC on a regular file, gold reports like bfd). */
static const char *fast_linker_option(const char *output)
{
    struct stat st;
    if (stat(output, &st) == 0 && !S_ISREG(st.st_mode))
        return NULL;
    return on_path("ld.gold") ? "-fuse-ld=gold" : NULL;
}

int cnnc_link_program(const char *const *objs, int num_objs, const cnnc_codegen_options *opts,
                      cnnc_diag *d)
{
    char dir[PATH_MAX];
    if (find_runtime(opts, dir, sizeof dir, d))
        return -1;
    char main_lib[PATH_MAX + 32], rt_lib[PATH_MAX + 32];
    snprintf(main_lib, sizeof main_lib, "%s/libcnnrt_main.a", dir);
    snprintf(rt_lib, sizeof rt_lib, "%s/libcnnrt.a", dir);
    /* $CC may carry options ("gcc -m64"): split it on blanks. */
    const char *cc = opts->cc ? opts->cc : getenv("CC");
    int default_cc = !cc || !*cc;
    if (default_cc)
        cc = "cc";
    char *cc_copy = strdup(cc);
    if (!cc_copy)
        abort();
    char *argv[64 + CNNC_LINK_MAX_OBJECTS];
    int argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(cc_copy, " \t", &save); t && argc < 40; t = strtok_r(NULL, " \t", &save))
        argv[argc++] = t;
    const char *linker = default_cc ? fast_linker_option(opts->output) : NULL;
    if (linker)
        argv[argc++] = (char *)linker;
    argv[argc++] = "-o";
    argv[argc++] = (char *)opts->output;
    for (int i = 0; i < num_objs && i < CNNC_LINK_MAX_OBJECTS; i++)
        argv[argc++] = (char *)objs[i];
    const char *rest[] = {main_lib, rt_lib, "-lpng", "-ljpeg", "-lgif", "-lz", "-lprotobuf-c",
                          "-lm", "-lpthread",
                          NULL};
    for (int i = 0; rest[i]; i++)
        argv[argc++] = (char *)rest[i];
#ifdef CNNC_MPI_LIBS
    /* libcnnrt was built with MPI (runtime/mpi.c): the libraries CMake found for it. */
    char mpi_libs[] = CNNC_MPI_LIBS;
    for (char *t = strtok_r(mpi_libs, " ", &save); t && argc < 62 + CNNC_LINK_MAX_OBJECTS;
         t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
#endif
    argv[argc] = NULL;
    int rc = cnnc_run_linker(argv, opts->output, "cannot run the C compiler", " to link the program",
                             "install a C compiler (cc) or set CC to one", d);
    free(cc_copy);
    return rc;
}

void cnnc_header_path(const char *object_path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", object_path);
    char *slash = strrchr(buf, '/');
    char *dot = strrchr(buf, '.');
    if (dot && (!slash || dot > slash) && dot != buf && strlen(buf) + 2 < len)
        strcpy(dot, ".h");
    else if (strlen(buf) + 3 < len)
        strcat(buf, ".h");
}

int cnnc_write_model_header(const cnnc_graph *forward, const cnnc_header_info *info,
                            const char *object_path, cnnc_diag *d)
{
    char path[PATH_MAX];
    cnnc_header_path(object_path, path, sizeof path);
    /* Written into memory first, then to the file with every error checked. */
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f) {
        cnnc_output_error(d, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    const char *n = info->c_name;
    char upper[256];
    size_t i;
    for (i = 0; n[i] && i + 1 < sizeof upper; i++)
        upper[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 'a' + 'A' : n[i]);
    upper[i] = '\0';
    const cnnc_shape *in = &forward->nodes[forward->input_node].shape;
    int64_t h = in->rank == 3 ? in->dim[0] : 1, w = in->rank == 3 ? in->dim[1] : 1;
    int64_t c = in->rank == 3 ? in->dim[2] : cnnc_shape_size(*in);
    int64_t opt = cnnc_graph_opt_state_floats(forward);
    const char *slash = strrchr(object_path, '/');
    const char *object_name = slash ? slash + 1 : object_path;
    fprintf(f,
            "/* Generated by cnnc from %s (model %s%s%s). Link with the object file and\n"
            " * the runtime core (one thread, no files; runtime/cnnrt_core.h):\n"
            " *   cc app.c %s -I<cnnc>/include <cnnc>/lib/libcnnrt_core.a -lm\n"
            " * or the whole runtime (threads, weights files, pictures):\n"
            " *   cc app.c %s -I<cnnc>/include <cnnc>/lib/libcnnrt.a\n"
            " *      -lpng -ljpeg -lgif -lz -lm -lpthread\n"
            " * The entry points follow runtime/cnnrt_model.h (the ABI). */\n"
            "#ifndef %s_MODEL_H\n#define %s_MODEL_H\n\n#include <stdint.h>\n\n"
            "#include \"cnnrt_model.h\"\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
            forward->source_file ? forward->source_file : "?", forward->model_name,
            info->target ? ", for " : "", info->target ? info->target : "", object_name,
            object_name, upper, upper);
    fprintf(f, "#define %s_INPUT_H %" PRId64 "\n#define %s_INPUT_W %" PRId64 "\n", upper, h,
            upper, w);
    fprintf(f, "#define %s_INPUT_C %" PRId64 "\n#define %s_NUM_CLASSES %d\n", upper, c, upper,
            forward->num_classes);
    fprintf(f, "#define %s_PARAM_FLOATS %" PRId64 "\n#define %s_OPT_STATE_FLOATS %" PRId64 "\n",
            upper, forward->param_floats, upper, opt);
    fprintf(f, "/* ws must hold threads * %s_WS_FLOATS_PER_THREAD floats, 64-byte aligned. */\n",
            upper);
    fprintf(f, "#define %s_WS_FLOATS_PER_THREAD %" PRId64 "\n", upper, info->ws_floats);
    fprintf(f, "/* The arena one thread needs (pool NULL, as with the runtime core), in bytes. */\n"
               "#define %s_WS_BYTES %" PRId64 "\n\n", upper, info->ws_floats * 4);
    fprintf(f, "extern const cnnrt_model %s_model;\n", n);
    if (info->has_weights)
        fprintf(f, "/* The trained weights (--embed-weights), the params of every entry point. */\n"
                   "#define %s_HAS_WEIGHTS 1\n"
                   "extern const float %s_weights[%s_PARAM_FLOATS];\n", upper, n, upper);
    fprintf(f, "\n");
    fprintf(f, "void %s_infer(const float *params, const float *x, int64_t n, float *probs,\n"
               "        float *logits, float *ws, cnnrt_pool *pool);\n", n);
    if (info->has_train)
        fprintf(f, "void %s_train_step(float *params, float *opt_state, const float *x,\n"
                   "        const int32_t *labels, int64_t n, int64_t step, float lr, uint64_t seed,\n"
                   "        float *stats, float *ws, cnnrt_pool *pool);\n"
                   "/* The train step's halves, for data-parallel training (cnnrt_model.h). */\n"
                   "void %s_train_gradients(const float *params, const float *x,\n"
                   "        const int32_t *labels, int64_t n, uint64_t seed, float *grad, float *stats,\n"
                   "        float *ws, cnnrt_pool *pool);\n"
                   "void %s_train_update(float *params, float *opt_state, float *grad, int64_t n,\n"
                   "        int64_t step, float lr);\n", n, n, n);
    if (info->has_gradcam)
        fprintf(f, "int %s_gradcam(const cnnrt_cam_args *args);\n"
                   "int %s_guided_backprop(const cnnrt_guided_args *args);\n", n, n);
    fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
    int failed = ferror(f) | (fclose(f) != 0);
    if (failed)
        cnnc_output_error(d, "cannot write '%s': out of memory", path);
    else
        failed = cnnc_write_output(path, text, text_len, d) != 0;
    free(text);
    return failed ? -1 : 0;
}
