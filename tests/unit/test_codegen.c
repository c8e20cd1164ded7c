/* Generated inference code (JIT) against the reference interpreter, for every forward op
 * and every model in models/, at -O0 and -O2; the lowered dump; --emit-llvm output that
 * parses back and verifies; an object file with its header; clear errors for an
 * unwritable output.
 *
 * Tolerance: |gen - interp| <= 1e-5 * max(1, |interp|) for -O0 (float sums in the
 * interpreter's order -- the interpreter sums in double -- and FMA in the tiled
 * convolutions); 1e-4 at -O2, where reductions may also be reassociated by the
 * vectoriser (a few ulps per term over sums of up to ~3,000 terms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/IRReader.h>

#include "codegen_common.h"
#include "cnnrt_info.h"
#include "link.h"
#include "ops.h"
#include "lower.h"

/* Every forward op: strided 'same' conv with sigmoid, 'valid' conv with tanh, max and
 * average pooling with 'same' padding, flatten, dropout (identity here), dense with
 * relu, dense, softmax. */
static const char *const ops_model =
    "model ops\n"
    "input shape=9x9x2\n"
    "conv2d filters=4 kernel=3 strides=2 padding=same activation=sigmoid\n"
    "conv2d filters=5 kernel=2 padding=valid activation=tanh\n"
    "max_pool2d pool_size=2 strides=1 padding=same\n"
    "avg_pool2d pool_size=3 strides=2 padding=same\n"
    "flatten\n"
    "dropout rate=0.3\n"
    "dense units=6 activation=relu\n"
    "dense units=4\n"
    "softmax\n";

/* Global average pooling, a conv without bias, valid max pooling, sigmoid dense. */
static const char *const gap_model =
    "model gapm\n"
    "input shape=8x7x3\n"
    "conv2d filters=6 kernel=3 padding=same use_bias=false activation=relu\n"
    "max_pool2d pool_size=2\n"
    "conv2d filters=8 kernel=1 activation=relu\n"
    "global_avg_pool2d\n"
    "dense units=5 activation=sigmoid\n"
    "dense units=3\n"
    "softmax\n";

/* The register-tiled convolutions (output channels a multiple of 8): tail tiles, strided
 * 'same' padding (a padded copy), 'valid', one and two vectors per tile, no bias. */
static const char *const tiled_model =
    "model tiled\n"
    "input shape=11x13x3\n"
    "conv2d filters=16 kernel=3 strides=2 padding=same activation=relu\n"
    "conv2d filters=8 kernel=2 padding=valid activation=tanh use_bias=false\n"
    "conv2d filters=24 kernel=3 padding=same activation=sigmoid\n"
    "conv2d filters=16 kernel=1\n"
    "flatten\n"
    "dense units=3\n"
    "softmax\n";

/* LeakyReLU as a layer, fused into a tiled conv2d (vector epilogue) and a plain one,
 * and after dense. */
static const char *const leaky_model =
    "model leaky\n"
    "input shape=7x7x2\n"
    "conv2d filters=8 kernel=3 padding=same activation=leaky_relu\n"
    "conv2d filters=3 kernel=2\n"
    "leaky_relu alpha=0.05\n"
    "flatten\n"
    "dense units=5 activation=leaky_relu\n"
    "dense units=3\n"
    "softmax\n";

static void check_text(const char *text, int opt, int threads)
{
    cg_case c;
    cg_compile_text(&c, text);
    cg_jit(&c, opt, CNNC_GEN_INFER);
    cg_check_infer(&c, 5, threads, opt == 0 ? 1e-5 : 1e-4, 0.5f);
    cg_case_free(&c);
}

static void test_ops_O0(void **state)
{
    (void)state;
    check_text(ops_model, 0, 1);
    check_text(gap_model, 0, 1);
    check_text(tiled_model, 0, 1);
    check_text(leaky_model, 0, 1);
}

static void test_ops_O2(void **state)
{
    (void)state;
    check_text(ops_model, 2, 2);
    check_text(gap_model, 2, 2);
    check_text(tiled_model, 2, 2);
    check_text(leaky_model, 2, 2);
    cg_target_cpu = "x86-64-v3";   /* the 8-float tiles (AVX2), whatever the host */
    check_text(tiled_model, 2, 2);
    check_text(tiled_model, 0, 1);
    cg_target_cpu = NULL;
}

static void check_model_file(const char *name, int opt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", CNNC_SOURCE_DIR, name);
    cg_case c;
    cg_compile_file(&c, path);
    cg_jit(&c, opt, CNNC_GEN_INFER);
    /* Weights of the size Keras's glorot_uniform gives these layers (the largest, 3136x10,
     * gets +-0.04), so that logits stay in a realistic range. */
    cg_check_infer(&c, 3, 2, opt == 0 ? 1e-5 : 1e-4, 0.1f);
    /* The descriptor matches the graph. */
    assert_int_equal(c.m->abi_version, CNNRT_ABI_VERSION);
    assert_int_equal(c.m->param_floats, c.g->param_floats);
    assert_int_equal(c.m->num_classes, c.g->num_classes);
    assert_true(c.m->fingerprint == cnnc_graph_fingerprint(c.g));
    assert_int_equal(c.m->num_params, c.g->num_params);
    assert_int_equal(c.m->num_layers, c.g->num_layers);
    for (int i = 0; i < c.g->num_params; i++) {
        assert_string_equal(c.m->params[i].name, c.g->params[i].name);
        assert_int_equal(c.m->params[i].offset, c.g->params[i].offset);
        assert_int_equal(c.m->params[i].rank, c.g->params[i].shape.rank);
    }
    assert_string_equal(c.m->layers[1].type, c.g->layers[1].type);
    assert_int_equal(c.m->train.optimizer, c.g->train.optimizer);
    assert_int_equal(c.m->train.loss, c.g->train.loss);
    assert_int_equal(c.m->train.loss_from_logits, 1);
    assert_int_equal(c.m->train.epochs, c.g->train.epochs);
    cnnrt_model_info info;
    cnnrt_err e;
    assert_int_equal(cnnrt_model_info_load(c.m, &info, &e), 0);   /* the runtime accepts it */
    cnnrt_model_info_free(&info);
    cg_case_free(&c);
}

static void test_every_model(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models", CNNC_SOURCE_DIR);
    const char *models[] = {"mnist.cnn", "gap.cnn", "lenet5.cnn", "keras_mnist_convnet.cnn"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, models[i]);
        if (access(path, R_OK) != 0)
            continue;
        check_model_file(models[i], 2);
    }
    check_model_file("mnist.cnn", 0);
}

/* Every op of the graph IR has a lowering (ops.c declares them weak). */
static void test_every_op_has_a_lowering(void **state)
{
    (void)state;
    for (int op = 0; op < CNNC_OP_COUNT; op++)
        if (!cnnc_op_info_of((cnnc_op)op)->lower)
            fail_msg("op '%s' has no lowering", cnnc_op_info_of((cnnc_op)op)->name);
}

/* The lowered program: conv2d+relu fused, one arena smaller than the sum of the
 * activations (buffers share memory when their lifetimes do not overlap). */
static void test_lowered_dump(void **state)
{
    (void)state;
    cg_case c;
    char path[4096];
    snprintf(path, sizeof path, "%s/models/mnist.cnn", CNNC_SOURCE_DIR);
    cg_compile_file(&c, path);
    cnnc_lowered *p = cnnc_lower_program(c.g, CNNC_PROGRAM_INFER, &c.d);
    assert_non_null(p);
    int64_t total = 0;
    for (int i = 0; i < p->num_bufs; i++)
        if (p->bufs[i].kind == CNNC_BUF_ARENA)
            total += p->bufs[i].size;
    assert_true(p->arena_floats < total);
    assert_true(p->arena_floats % 16 == 0);
    /* Buffers live at the same time never overlap. */
    for (int i = 0; i < p->num_bufs; i++)
        for (int j = i + 1; j < p->num_bufs; j++) {
            const cnnc_lbuf *a = &p->bufs[i], *b = &p->bufs[j];
            if (a->kind != CNNC_BUF_ARENA || b->kind != CNNC_BUF_ARENA || a->first < 0 || b->first < 0)
                continue;
            int time = a->first <= b->last && b->first <= a->last;
            int mem = a->offset < b->offset + b->size && b->offset < a->offset + a->size;
            assert_false(time && mem);
        }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cnnc_lowered_dump(p, f);
    fclose(f);
    assert_non_null(strstr(text, "conv2d+relu"));
    assert_non_null(strstr(text, "arena"));
    assert_null(strstr(text, " relu\n"));   /* no separate relu loop */
    free(text);
    cnnc_lowered_free(p);
    cg_case_free(&c);
}

static char *temp_path(const char *suffix)
{
    static int counter;
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/cnnc-test-codegen-%ld-%d%s", (long)getpid(), counter++, suffix);
    return p;
}

/* --emit-llvm writes IR that LLVM parses back and verifies. */
static void test_emit_llvm_parses(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, gap_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_LLVM_IR, 1);
    char *path = temp_path(".ll");
    o.output = path;
    if (cnnc_codegen_run(c.g, &o, &c.d))
        fail_msg("emit-llvm failed: %s", cg_diag(&c));
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMMemoryBufferRef buf;
    char *msg = NULL;
    assert_int_equal(LLVMCreateMemoryBufferWithContentsOfFile(path, &buf, &msg), 0);
    LLVMModuleRef mod;
    if (LLVMParseIRInContext(ctx, buf, &mod, &msg))
        fail_msg("IR does not parse: %s", msg);
    assert_int_equal(LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg), 0);
    LLVMDisposeMessage(msg);
    assert_non_null(LLVMGetNamedGlobal(mod, "gapm_model"));
    assert_non_null(LLVMGetNamedFunction(mod, "gapm_infer"));
    assert_non_null(LLVMGetNamedFunction(mod, "gapm_train_step"));
    /* Kernels are emitted once per module: the two forward convolutions, which every
     * program (infer, train step, each Grad-CAM) runs, have one body each. */
    int conv_bodies = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f)) {
        size_t len;
        const char *name = LLVMGetValueName2(f, &len);
        conv_bodies += len > 7 && strncmp(name, "gapm_k", 6) == 0 &&
                       strcmp(name + len - 7, "_conv2d") == 0;
    }
    assert_int_equal(conv_bodies, 2);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    unlink(path);
    free(path);
    cg_case_free(&c);
}

/* -c: an object file and model.h with the prototypes and sizes; -S: assembly. */
static void test_object_and_header(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, gap_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_OBJECT, 0);
    o.programs = CNNC_GEN_INFER;
    char *obj = temp_path(".o");
    o.output = obj;
    if (cnnc_codegen_run(c.g, &o, &c.d))
        fail_msg("-c failed: %s", cg_diag(&c));
    char header[300];
    cnnc_header_path(obj, header, sizeof header);
    char *text = cg_read_text(header);
    assert_non_null(text);
    assert_non_null(strstr(text, "extern const cnnrt_model gapm_model;"));
    assert_non_null(strstr(text, "void gapm_infer(const float *params"));
    assert_non_null(strstr(text, "#define GAPM_INPUT_H 8"));
    assert_non_null(strstr(text, "#define GAPM_NUM_CLASSES 3"));
    assert_non_null(strstr(text, "GAPM_WS_FLOATS_PER_THREAD"));
    free(text);
    char *bytes = cg_read_text(obj);
    assert_non_null(bytes);
    assert_memory_equal(bytes, "\177ELF", 4);
    free(bytes);
    unlink(obj);
    unlink(header);
    o.emit = CNNC_EMIT_ASM;
    char *s = temp_path(".s");
    o.output = s;
    if (cnnc_codegen_run(c.g, &o, &c.d))
        fail_msg("-S failed: %s", cg_diag(&c));
    text = cg_read_text(s);
    assert_non_null(strstr(text, "gapm_infer"));
    free(text);
    unlink(s);
    free(s);
    free(obj);
    cg_case_free(&c);
}

/* An unwritable output is a clear error, not a crash. */
static void test_unwritable_output(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, gap_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_OBJECT, 0);
    o.programs = CNNC_GEN_INFER;
    o.output = "/nonexistent-dir/model.o";
    assert_int_equal(cnnc_codegen_run(c.g, &o, &c.d), -1);
    assert_non_null(strstr(cg_diag(&c), "cannot write '/nonexistent-dir/model.o'"));
    o.emit = CNNC_EMIT_LLVM_IR;
    o.output = "/nonexistent-dir/model.ll";
    assert_int_equal(cnnc_codegen_run(c.g, &o, &c.d), -1);
    assert_non_null(strstr(cg_diag(&c), "cannot write '/nonexistent-dir/model.ll'"));
    o.output = NULL;
    assert_int_equal(cnnc_codegen_run(c.g, &o, &c.d), -1);
    assert_non_null(strstr(cg_diag(&c), "no output file"));
    cg_case_free(&c);
}

/* An unknown --target-cpu is a cnnc error (LLVM itself would only warn, then abort). */
static void test_unknown_target_cpu(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, gap_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_NONE, 0);
    o.programs = CNNC_GEN_INFER;
    o.target_cpu = "no-such-cpu";
    assert_int_equal(cnnc_codegen_run(c.g, &o, &c.d), -1);
    assert_non_null(strstr(cg_diag(&c), "unknown --target-cpu 'no-such-cpu'"));
    o.target_cpu = "x86-64-v3";
    assert_int_equal(cnnc_codegen_run(c.g, &o, &c.d), 0);
    cg_case_free(&c);
}

/* Program linking with a missing runtime directory names where it looked. */
static void test_missing_runtime(void **state)
{
    (void)state;
    cg_case c;
    cg_compile_text(&c, gap_model);
    cnnc_codegen_options o = cg_emit_options(CNNC_EMIT_PROGRAM, 0);
    o.programs = CNNC_GEN_INFER;
    char *prog = temp_path("");
    o.output = prog;
    o.runtime_lib_dir = "/nonexistent-runtime";
    setenv("CNNC_RUNTIME_DIR", "/nonexistent-runtime-2", 1);
    /* The test binary lives in build/tests, so ../lib may hold a real runtime: point the
     * linker at a compiler that does not exist instead to check that error too. */
    o.cc = "/nonexistent-cc";
    int rc = cnnc_codegen_run(c.g, &o, &c.d);
    assert_int_equal(rc, -1);
    const char *text = cg_diag(&c);
    assert_true(strstr(text, "cannot find the cnnc runtime") ||
                strstr(text, "cannot run the C compiler '/nonexistent-cc'"));
    assert_int_not_equal(access(prog, F_OK), 0);
    unsetenv("CNNC_RUNTIME_DIR");
    free(prog);
    cg_case_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_a_lowering),
        cmocka_unit_test(test_ops_O0),
        cmocka_unit_test(test_ops_O2),
        cmocka_unit_test(test_every_model),
        cmocka_unit_test(test_lowered_dump),
        cmocka_unit_test(test_emit_llvm_parses),
        cmocka_unit_test(test_object_and_header),
        cmocka_unit_test(test_unwritable_output),
        cmocka_unit_test(test_missing_runtime),
        cmocka_unit_test(test_unknown_target_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
