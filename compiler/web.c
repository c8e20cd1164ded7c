/* `cnnc MODEL --web DIR --weights FILE`: the draw-a-digit page. See web.h. */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen.h"
#include "codegen_module.h"
#include "embed_weights.h"
#include "link.h"

static const cnnc_loc NOWHERE = {0, 0, 0};

#ifndef CNNC_WASM_LD
#define CNNC_WASM_LD ""
#endif
#ifndef CNNC_WASI_LIBDIR
#define CNNC_WASI_LIBDIR ""
#endif

enum { WEB_EXAMPLES = 8 };   /* test digits inlined in the page: enough to try, still small */

/* ---- files --------------------------------------------------------------------------- */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The whole file in a malloc'd buffer (NUL-terminated), or NULL after a message. */
static char *read_whole(const char *path, size_t *len, cnnc_diag *d)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f) {
        for (;;) {
            if (n + 65536 + 1 > cap) {
                cap = (n + 65536 + 1) * 2;
                char *bigger = realloc(buf, cap);
                if (!bigger)
                    abort();
                buf = bigger;
            }
            size_t got = fread(buf + n, 1, 65536, f);
            n += got;
            if (got < 65536)
                break;
        }
        int failed = ferror(f);
        fclose(f);
        if (!failed) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
    }
    cnnc_output_error(d, "cannot read '%s': %s", path, strerror(errno ? errno : EIO));
    free(buf);
    return NULL;
}

/* Writes path as a whole or not at all: a temporary file beside it, synced, renamed. */
static int write_atomic(const char *path, const char *data, size_t len, cnnc_diag *d)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = fd < 0 ? errno : 0;
    for (size_t done = 0; !err && done < len;) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            err = w < 0 ? errno : EIO;
        else
            done += (size_t)w;
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    if (fd >= 0 && close(fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err) {
        remove(tmp);
        cnnc_output_error(d, "cannot write '%s': %s", path, strerror(err));
        return -1;
    }
    return 0;
}

/* dir/name into buf; -1 after a message when it does not fit. */
static int join(char *buf, size_t len, const char *dir, const char *name, cnnc_diag *d)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len) {
        cnnc_output_error(d, "the path '%s/%s' is too long", dir, name);
        return -1;
    }
    return 0;
}

/* ---- where the runtime for wasm32 and the page's files are --------------------------- */

typedef struct web_parts {
    char runtime[PATH_MAX];     /* <lib>/wasm32/cnnrt_web.o */
    char page_dir[PATH_MAX];    /* <share>/cnnc/web: index.html, page.js */
} web_parts;

/* Beside this cnnc (<bin>/../lib, <bin>/../share: the build tree and an install), then
 * the install prefix. -1 after a message that says what to install. */
static int find_web_parts(web_parts *p, cnnc_diag *d)
{
    char base[2][PATH_MAX] = {{0}};
    char exe[PATH_MAX];
    ssize_t r = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = r > 0 ? (exe[r] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        snprintf(base[0], PATH_MAX, "%.*s/..", PATH_MAX - 8, exe);
    }
    int have_page = 0, have_runtime = 0;
    for (int i = 0; i < 2 && !(have_page && have_runtime); i++) {
        char runtime[PATH_MAX + 64], page[PATH_MAX + 64];
        if (i == 0 && !base[0][0])
            continue;
        if (i == 0) {
            snprintf(runtime, sizeof runtime, "%s/lib/wasm32/cnnrt_web.o", base[0]);
            snprintf(page, sizeof page, "%s/share/cnnc/web", base[0]);
        } else {
#if defined(CNNC_INSTALL_LIBDIR) && defined(CNNC_INSTALL_DATADIR)
            snprintf(runtime, sizeof runtime, "%s/wasm32/cnnrt_web.o", CNNC_INSTALL_LIBDIR);
            snprintf(page, sizeof page, "%s/cnnc/web", CNNC_INSTALL_DATADIR);
#else
            continue;
#endif
        }
        char index[PATH_MAX + 96];
        snprintf(index, sizeof index, "%s/index.html", page);
        if (!have_runtime && is_file(runtime) && strlen(runtime) < PATH_MAX) {
            strcpy(p->runtime, runtime);
            have_runtime = 1;
        }
        if (!have_page && is_file(index) && strlen(page) < PATH_MAX) {
            strcpy(p->page_dir, page);
            have_page = 1;
        }
    }
    if (!have_page) {
        cnnc_error(d, NOWHERE, "--web: cannot find the page's files (share/cnnc/web/index.html "
                               "beside cnnc): build the 'cnnrt_web' target, or install cnnc");
        return -1;
    }
    if (!have_runtime || !*CNNC_WASM_LD || !*CNNC_WASI_LIBDIR) {
        cnnc_error(d, NOWHERE, "--web: this cnnc was built without the runtime for WebAssembly "
                               "(lib/wasm32/cnnrt_web.o)");
        cnnc_note(d, NOWHERE, "it needs clang-19, wasm-ld-19 and wasi-libc: install them "
                              "(scripts/install-deps.sh, or apt-get install clang-19 lld-19 "
                              "wasi-libc), then configure and build cnnc again");
        return -1;
    }
    return 0;
}

/* ---- the objects and the link -------------------------------------------------------- */

/* The model's object: the inference and Grad-CAM entry points and the weights, wasm32. */
static int emit_model_object(const cnnc_graph *g, const cnnc_web_options *o,
                             const float *weights, const char *path, cnnc_diag *d)
{
    cnnc_codegen_options cg;
    cnnc_codegen_options_init(&cg);
    cg.emit = CNNC_EMIT_OBJECT;
    cg.output = path;
    cg.opt_level = o->opt_level;
    cg.target_triple = "wasm32";
    cg.programs = CNNC_GEN_INFER | CNNC_GEN_CAMS;
    cg.embedded_params = weights;
    cg.jobs = o->jobs;
    int rc = cnnc_codegen_run(g, &cg, d);
    char header[PATH_MAX];
    cnnc_header_path(path, header, sizeof header);
    remove(header);   /* -c's header: the page needs none */
    return rc;
}

/* A constant pointer global `name` holding the address of the external symbol `target`. */
static void add_pointer(LLVMModuleRef mod, const char *name, const char *target)
{
    LLVMContextRef ctx = LLVMGetModuleContext(mod);
    LLVMValueRef extern_symbol = LLVMAddGlobal(mod, LLVMInt8TypeInContext(ctx), target);
    LLVMSetGlobalConstant(extern_symbol, 1);
    LLVMValueRef gv = LLVMAddGlobal(mod, LLVMPointerTypeInContext(ctx, 0), name);
    LLVMSetInitializer(gv, extern_symbol);
    LLVMSetGlobalConstant(gv, 1);
}

/* The glue: cnnrt_web_model and cnnrt_web_weights, which the prebuilt runtime's exports
 * (examples/wasm/model_exports.c with CNNRT_WEB_MODULE) read, pointed at NAME_model and
 * NAME_weights. wasm-ld has no --defsym; two pointers cost one load per call. */
static int emit_glue_object(const char *c_name, const char *path, cnnc_diag *d)
{
    cnnc_codegen_options cg;
    cnnc_codegen_options_init(&cg);
    cg.target_triple = "wasm32";
    LLVMTargetMachineRef tm = cg_make_target_machine(&cg, d);
    if (!tm)
        return -1;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("cnnc_web_glue", ctx);
    cg_set_module_target(mod, tm);
    char model[300], weights[300];
    snprintf(model, sizeof model, "%s_model", c_name);
    snprintf(weights, sizeof weights, "%s_weights", c_name);
    add_pointer(mod, "cnnrt_web_model", model);
    add_pointer(mod, "cnnrt_web_weights", weights);
    char *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    int rc = -1;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &err, &buf)) {
        cnnc_output_error(d, "cannot write '%s': %s", path, err ? err : "unknown LLVM error");
        LLVMDisposeMessage(err);
    } else {
        rc = cnnc_write_output(path, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), d);
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    return rc;
}

/* wasm-ld: a library module (no entry; the page calls its exports), 1 MiB of stack for
 * the entry points' small frames (the workspace comes from the heap), wasi-libc's plain
 * wasm32 code for memcpy, exp, malloc (no WASI call is linked: no imports). */
static int link_module(const char *model_obj, const char *glue_obj, const web_parts *p,
                       const char *out, cnnc_diag *d)
{
    char libdir[PATH_MAX + 4];
    snprintf(libdir, sizeof libdir, "-L%s", CNNC_WASI_LIBDIR);
    char *argv[] = {CNNC_WASM_LD, "--no-entry", "-z", "stack-size=1048576", "--fatal-warnings",
                    (char *)model_obj, (char *)glue_obj, (char *)p->runtime, libdir, "-lc",
                    "-o", (char *)out, NULL};
    return cnnc_run_linker(argv, out, "--web: cannot run the WebAssembly linker", "",
                           "install lld-19 (scripts/install-deps.sh)", d);
}

/* ---- the page ------------------------------------------------------------------------ */

static char *base64(const unsigned char *in, size_t n, size_t *out_len)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = digits[v >> 18 & 63];
        out[o++] = digits[v >> 12 & 63];
        out[o++] = i + 1 < n ? digits[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? digits[v & 63] : '=';
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* A growing string. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        char *bigger = realloc(t->s, t->cap);
        if (!bigger)
            abort();
        t->s = bigger;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_str(text *t, const char *s) { text_add(t, s, strlen(s)); }

/* NAME.wasm.js: the module as base64 for a page opened from file://, where a <script>
 * loads (browsers refuse fetch() of a file:// URL, so the .wasm cannot be read). */
static int write_module_script(const char *wasm_path, const char *js_path, cnnc_diag *d)
{
    size_t n, b64_len;
    char *module = read_whole(wasm_path, &n, d);
    if (!module)
        return -1;
    char *b64 = base64((const unsigned char *)module, n, &b64_len);
    text js = {0};
    text_str(&js, "// The WebAssembly module beside this file, as base64: page.js uses it when "
                  "the page\n// is opened from file://, where browsers do not let it fetch "
                  "the .wasm. Written by cnnc --web.\nwindow.cnncModuleBase64 = '");
    text_add(&js, b64, b64_len);
    text_str(&js, "';\n");
    int rc = write_atomic(js_path, js.s, js.len, d);
    free(js.s);
    free(b64);
    free(module);
    return rc;
}

/* Reads `count` records of `size` bytes after an IDX header (magic `magic`, then the
 * dimensions); 0, or -1 when the file is missing, short or not that kind of IDX file. */
static int read_idx(const char *path, unsigned magic, int header, size_t size, int count,
                    unsigned char *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char head[16];
    int ok = fread(head, 1, (size_t)header, f) == (size_t)header &&
             ((unsigned)head[0] << 24 | (unsigned)head[1] << 16 | (unsigned)head[2] << 8 |
              head[3]) == magic &&
             fread(out, size, (size_t)count, f) == (size_t)count;
    fclose(f);
    return ok ? 0 : -1;
}

/* The JSON list of the first test digits ([] when none are found, with a note): the
 * given --data, $CNNC_DATA, ./data/mnist, as the programs look for their data. */
static void add_examples(text *page, const cnnc_graph *g, const cnnc_web_options *o,
                         cnnc_diag *d)
{
    const cnnc_shape *in = &g->nodes[g->input_node].shape;
    size_t pixels = (size_t)(in->dim[0] * in->dim[1]);
    const char *env = getenv("CNNC_DATA");
    const char *dirs[3] = {o->data, env && *env ? env : NULL, o->data ? NULL : "data/mnist"};
    unsigned char *images = malloc(pixels * WEB_EXAMPLES);
    unsigned char labels[WEB_EXAMPLES];
    if (!images)
        abort();
    const char *found = NULL;
    for (int i = 0; i < 3 && !found; i++) {
        char ipath[PATH_MAX], lpath[PATH_MAX];
        if (!dirs[i] || (o->data && i > 0))
            continue;
        snprintf(ipath, sizeof ipath, "%s/t10k-images-idx3-ubyte", dirs[i]);
        snprintf(lpath, sizeof lpath, "%s/t10k-labels-idx1-ubyte", dirs[i]);
        if (read_idx(ipath, 0x803, 16, pixels, WEB_EXAMPLES, images) == 0 &&
            read_idx(lpath, 0x801, 8, 1, WEB_EXAMPLES, labels) == 0)
            found = dirs[i];
    }
    text_str(page, "[");
    for (int i = 0; found && i < WEB_EXAMPLES; i++) {
        size_t n;
        char *b64 = base64(images + (size_t)i * pixels, pixels, &n);
        char head[96];
        snprintf(head, sizeof head, "%s{\"index\": %d, \"label\": %d, \"pixels\": \"",
                 i ? ", " : "", i, labels[i]);
        text_str(page, head);
        text_add(page, b64, n);
        text_str(page, "\"}");
        free(b64);
    }
    text_str(page, "]");
    if (!found)
        cnnc_note(d, NOWHERE, "--web: no test digits (t10k-images-idx3-ubyte and "
                              "t10k-labels-idx1-ubyte of %lldx%lld pictures) in %s: the page "
                              "offers none",
                  (long long)in->dim[0], (long long)in->dim[1],
                  o->data ? o->data : "$CNNC_DATA or data/mnist");
    free(images);
}

/* index.html from the template: @MODULE@ (the .wasm), @MODULE_SCRIPT@ (its base64
 * script), @MODULE_KB@ (the module's size) and @EXAMPLES@ (the test digits) filled in. */
static int write_index(const web_parts *p, const cnnc_graph *g, const cnnc_web_options *o,
                       const char *module, long module_bytes, cnnc_diag *d)
{
    char path[PATH_MAX + 32], out[PATH_MAX];
    size_t n;
    snprintf(path, sizeof path, "%s/index.html", p->page_dir);
    char *tmpl = read_whole(path, &n, d);
    if (!tmpl || join(out, sizeof out, o->dir, "index.html", d)) {
        free(tmpl);
        return -1;
    }
    text page = {0};
    for (const char *s = tmpl; *s;) {
        const char *at = strchr(s, '@');
        if (!at) {
            text_str(&page, s);
            break;
        }
        text_add(&page, s, (size_t)(at - s));
        if (strncmp(at, "@MODULE@", 8) == 0) {
            text_str(&page, module);
            s = at + 8;
        } else if (strncmp(at, "@MODULE_SCRIPT@", 15) == 0) {
            text_str(&page, module);
            text_str(&page, ".js");
            s = at + 15;
        } else if (strncmp(at, "@MODULE_KB@", 11) == 0) {
            char kb[32];
            snprintf(kb, sizeof kb, "%ld", (module_bytes + 512) / 1024);
            text_str(&page, kb);
            s = at + 11;
        } else if (strncmp(at, "@EXAMPLES@", 10) == 0) {
            add_examples(&page, g, o, d);
            s = at + 10;
        } else {
            text_add(&page, "@", 1);
            s = at + 1;
        }
    }
    int rc = write_atomic(out, page.s, page.len, d);
    free(page.s);
    free(tmpl);
    return rc;
}

static int copy_file(const char *from, const char *to, cnnc_diag *d)
{
    size_t n;
    char *data = read_whole(from, &n, d);
    int rc = data ? write_atomic(to, data, n, d) : -1;
    free(data);
    return rc;
}

/* ---- the whole folder ---------------------------------------------------------------- */

/* A drawing page needs a one-channel picture input and Grad-CAM. */
static int check_model(const cnnc_graph *g, cnnc_diag *d)
{
    const cnnc_shape *in = &g->nodes[g->input_node].shape;
    if (in->rank != 3 || in->dim[2] != 1) {
        cnnc_error(d, NOWHERE, "--web makes a page to draw on: the model's input must be a "
                               "one-channel picture (HxWx1), not %s",
                   in->rank == 3 ? "a colour one" : "a vector");
        return -1;
    }
    return 0;
}

static int make_dir(const char *dir, cnnc_diag *d)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
    }
    cnnc_output_error(d, "cannot make the folder '%s': %s", dir, strerror(errno));
    return -1;
}

/* Paths of one run: the objects and the module are made in DIR/.cnnc-web-PID (the module
 * under its final name, which wasm-ld writes into it), then the module is moved out. */
typedef struct web_paths {
    char work[PATH_MAX], model_obj[PATH_MAX], glue_obj[PATH_MAX], linked[PATH_MAX];
    char wasm[PATH_MAX], js[PATH_MAX], page_js[PATH_MAX], page_js_from[PATH_MAX];
} web_paths;

static int make_paths(web_paths *w, const char *dir, const char *c_name, const char *module,
                      const web_parts *parts, cnnc_diag *d)
{
    char name[340];
    snprintf(name, sizeof name, ".cnnc-web-%ld", (long)getpid());
    int rc = join(w->work, sizeof w->work, dir, name, d);
    snprintf(name, sizeof name, "%s.o", c_name);
    rc = rc ? rc : join(w->model_obj, sizeof w->model_obj, w->work, name, d);
    rc = rc ? rc : join(w->glue_obj, sizeof w->glue_obj, w->work, "glue.o", d);
    rc = rc ? rc : join(w->linked, sizeof w->linked, w->work, module, d);
    rc = rc ? rc : join(w->wasm, sizeof w->wasm, dir, module, d);
    snprintf(name, sizeof name, "%s.js", module);
    rc = rc ? rc : join(w->js, sizeof w->js, dir, name, d);
    rc = rc ? rc : join(w->page_js, sizeof w->page_js, dir, "page.js", d);
    return rc ? rc : join(w->page_js_from, sizeof w->page_js_from, parts->page_dir, "page.js", d);
}

static int write_folder(const cnnc_graph *g, const cnnc_web_options *o, const float *weights,
                        const web_parts *parts, const web_paths *w, const char *c_name,
                        const char *module, cnnc_diag *d)
{
    if (emit_model_object(g, o, weights, w->model_obj, d) ||
        emit_glue_object(c_name, w->glue_obj, d) ||
        link_module(w->model_obj, w->glue_obj, parts, w->linked, d) ||
        write_module_script(w->linked, w->js, d))
        return -1;
    if (chmod(w->linked, 0644) != 0 || rename(w->linked, w->wasm) != 0) {
        cnnc_output_error(d, "cannot write '%s': %s", w->wasm, strerror(errno));
        return -1;
    }
    struct stat st;
    long module_bytes = stat(w->wasm, &st) == 0 ? (long)st.st_size : 0;
    if (copy_file(w->page_js_from, w->page_js, d))
        return -1;
    return write_index(parts, g, o, module, module_bytes, d);
}

int cnnc_web_write(const cnnc_graph *g, const cnnc_web_options *o, cnnc_diag *d)
{
    web_parts parts;
    if (check_model(g, d) || find_web_parts(&parts, d))
        return -1;
    char c_name[256], module[300];
    cnnc_model_identifier(g->model_name, c_name, sizeof c_name);
    snprintf(module, sizeof module, "%s.wasm", c_name);
    web_paths w;
    float *weights = NULL;   /* checked before anything is written */
    if (make_paths(&w, o->dir, c_name, module, &parts, d) ||
        !(weights = cnnc_load_weights_file(g, o->weights)) || make_dir(o->dir, d) ||
        make_dir(w.work, d)) {
        free(weights);
        return -1;
    }
    int rc = write_folder(g, o, weights, &parts, &w, c_name, module, d);
    remove(w.model_obj);
    remove(w.glue_obj);
    remove(w.linked);
    rmdir(w.work);
    free(weights);
    if (rc == 0)
        printf("Wrote %s/index.html, page.js, %s and %s.js: open index.html in a browser, or "
               "serve the folder (python3 -m http.server -d %s)\n",
               o->dir, module, module, o->dir);
    return rc;
}
