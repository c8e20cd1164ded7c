/* --target TRIPLE (cross_target.h). */
#include "cross_target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>

static const cnnc_loc NOWHERE = {0, 0, 0};

/* Every target cnnc was built for (CNNC_LLVM_TARGETS, llvm_targets.h: by default all that
 * LLVM has), so that a cross triple finds its back end; idempotent. Not LLVM's
 * LLVMInitializeAllTargets: a cnnc linked with LLVM's static libraries may contain only
 * some of LLVM's targets, and that function names them all. */
static void init_all_targets(void)
{
    static int done;
    if (done)
        return;
    done = 1;
#define CNNC_LLVM_TARGET(t)                                                                \
    LLVMInitialize##t##TargetInfo();                                                      \
    LLVMInitialize##t##Target();                                                          \
    LLVMInitialize##t##TargetMC();                                                        \
    LLVMInitialize##t##AsmPrinter();
#define CNNC_LLVM_ASM_PARSER(t) LLVMInitialize##t##AsmParser();
#include "llvm_targets.h"
#undef CNNC_LLVM_TARGET
#undef CNNC_LLVM_ASM_PARSER
}

/* "aarch64, wasm32, x86-64, ..." -- the architectures LLVM can emit, for the message. */
static void list_targets(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (LLVMTargetRef t = LLVMGetFirstTarget(); t && used + 1 < len; t = LLVMGetNextTarget(t)) {
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", LLVMGetTargetName(t));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A normalised triple without its vendor: "x86_64-pc-linux-gnu" and
 * "x86_64-unknown-linux-gnu" (what `cc -dumpmachine`'s "x86_64-linux-gnu" becomes) are the
 * same machine. */
static void without_vendor(const char *triple, char *out, size_t len)
{
    char *normal = LLVMNormalizeTargetTriple(triple);
    const char *first = strchr(normal, '-');
    const char *second = first ? strchr(first + 1, '-') : NULL;
    if (second)
        snprintf(out, len, "%.*s%s", (int)(first - normal), normal, second);
    else
        snprintf(out, len, "%s", normal);
    LLVMDisposeMessage(normal);
}

int cnnc_target_is_host(const char *requested)
{
    if (!requested || !*requested)
        return 1;
    char *host = LLVMGetDefaultTargetTriple();
    char a[256], b[256];
    without_vendor(host, a, sizeof a);
    without_vendor(requested, b, sizeof b);
    LLVMDisposeMessage(host);
    return strcmp(a, b) == 0;
}

int cnnc_target_resolve(const char *requested, cnnc_target *t, cnnc_diag *d)
{
    memset(t, 0, sizeof *t);
    if (strlen(requested ? requested : "") >= sizeof t->triple - 16) {
        cnnc_error(d, NOWHERE, "--target=%.40s...: too long for a target triple", requested);
        return -1;
    }
    char *host = LLVMGetDefaultTargetTriple();
    char *normal = LLVMNormalizeTargetTriple(requested && *requested ? requested : host);
    snprintf(t->triple, sizeof t->triple, "%s", normal);
    t->is_host = cnnc_target_is_host(requested);
    LLVMDisposeMessage(normal);
    LLVMDisposeMessage(host);
    init_all_targets();
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {
        char known[1024];
        list_targets(known, sizeof known);
        cnnc_error(d, NOWHERE, "--target=%s: LLVM %s cannot generate code for '%s' (it can "
                   "for: %s; e.g. --target=aarch64-linux-gnu or --target=wasm32)",
                   requested ? requested : "", CNNC_LLVM_VERSION, t->triple, known);
        LLVMDisposeMessage(err);
        return -1;
    }
    t->is_wasm = starts_with(t->triple, "wasm32") || starts_with(t->triple, "wasm64");
    t->cpu = "generic";
    /* wasm: 128-bit SIMD (every browser and Node.js since 2021 run it); the kernels' 8-float
     * vectors become pairs of v128 instead of scalar code. Static code: wasm-ld links a
     * module, not a shared object with a global offset table. */
    t->features = t->is_wasm ? "+simd128" : "";
    t->reloc = t->is_wasm ? LLVMRelocStatic : LLVMRelocPIC;
    return 0;
}
