/* ONNX export: the weights put into the model template cnnc built (see cnnrt_export.h).
 * protobuf-c does the (de)serialization from onnx.proto (third_party/onnx). */
#include "cnnrt_export.h"

#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

static const cnnrt_param_desc *find_param(const cnnrt_param_desc *params, int n,
                                          const char *name)
{
    for (int i = 0; i < n; i++)
        if (name && !strcmp(params[i].name, name))
            return &params[i];
    return NULL;
}

/* The dimensions the tensor has in ONNX: conv kernels OIHW, everything else as stored. */
static void onnx_dims(const cnnrt_param_desc *p, int64_t dims[CNNRT_MAX_RANK])
{
    for (int i = 0; i < p->rank; i++)
        dims[i] = p->dims[i];
    if (p->rank == 4) {   /* HWIO -> OIHW */
        dims[0] = p->dims[3];
        dims[1] = p->dims[2];
        dims[2] = p->dims[0];
        dims[3] = p->dims[1];
    }
}

/* The tensor's floats in ONNX's layout, as little-endian bytes (raw_data). */
static uint8_t *onnx_raw_data(const cnnrt_param_desc *p, const float *weights)
{
    const float *src = weights + p->offset;
    float *dst = cnnrt_xmalloc((size_t)p->size * sizeof(float));
    if (p->rank != 4) {
        memcpy(dst, src, (size_t)p->size * sizeof(float));
    } else {
        int64_t kh = p->dims[0], kw = p->dims[1], ci = p->dims[2], co = p->dims[3];
        for (int64_t y = 0; y < kh; y++)
            for (int64_t x = 0; x < kw; x++)
                for (int64_t i = 0; i < ci; i++)
                    for (int64_t o = 0; o < co; o++)
                        dst[((o * ci + i) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o];
    }
    return (uint8_t *)dst;   /* the hosts cnnc targets are little-endian */
}

static int fill_initializer(Onnx__TensorProto *t, const cnnrt_param_desc *p,
                            const float *weights, cnnrt_err *e)
{
    int64_t dims[CNNRT_MAX_RANK];
    onnx_dims(p, dims);
    int same = t->n_dims == (size_t)p->rank && t->has_data_type &&
               t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    for (int i = 0; same && i < p->rank; i++)
        same = t->dims[i] == dims[i];
    if (!same)
        return cnnrt_fail(e, "the ONNX template's initializer '%s' does not match the "
                             "model's tensor of that name", p->name);
    if (t->has_raw_data)
        free(t->raw_data.data);
    t->raw_data.data = onnx_raw_data(p, weights);
    t->raw_data.len = (size_t)p->size * sizeof(float);
    t->has_raw_data = 1;
    return 0;
}

int cnnrt_onnx_fill(const void *tmpl, size_t tmpl_len, const cnnrt_param_desc *params,
                    int num_params, const float *weights, unsigned char **out,
                    size_t *out_len, cnnrt_err *e)
{
    *out = NULL;
    *out_len = 0;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, tmpl_len, tmpl);
    if (!m || !m->graph)
        return cnnrt_fail(e, "the program's ONNX template is not a valid ONNX model");
    int failed = 0, used = 0;
    for (size_t i = 0; i < m->graph->n_initializer && !failed; i++) {
        Onnx__TensorProto *t = m->graph->initializer[i];
        const cnnrt_param_desc *p = find_param(params, num_params, t->name);
        if (p) {
            failed = fill_initializer(t, p, weights, e);
            used++;
        }
    }
    if (!failed && used != num_params)
        failed = cnnrt_fail(e, "the program's ONNX template has %d of the model's %d weight "
                               "tensors", used, num_params);
    if (!failed) {
        *out_len = onnx__model_proto__get_packed_size(m);
        *out = cnnrt_xmalloc(*out_len ? *out_len : 1);
        onnx__model_proto__pack(m, *out);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return failed ? -1 : 0;
}

int cnnrt_onnx_write(const char *path, const void *tmpl, size_t tmpl_len,
                     const cnnrt_param_desc *params, int num_params, const float *weights,
                     cnnrt_err *e)
{
    unsigned char *bytes;
    size_t len;
    if (cnnrt_onnx_fill(tmpl, tmpl_len, params, num_params, weights, &bytes, &len, e))
        return -1;
    int failed = cnnrt_write_file_atomic(path, bytes, len, e);
    free(bytes);
    return failed;
}
