/* TensorFlow.js export: the Layers format (model.json + one weight shard), which
 * tf.loadLayersModel reads. The Keras config comes from cnnc (cnnrt_export.h); the weights
 * are Keras's get_weights() in order and layout already, so they are written as they are. */
#include "cnnrt_export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char SHARD_NAME[] = "group1-shard1of1.bin";

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int write_model_json(const char *path, const char *keras_config,
                            const cnnrt_param_desc *params, int num_params, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    fprintf(f.fp, "{\"format\": \"layers-model\", \"generatedBy\": \"cnnc\", "
                  "\"convertedBy\": null,\n \"modelTopology\": %s,\n"
                  " \"weightsManifest\": [{\"paths\": [\"%s\"], \"weights\": [",
            keras_config, SHARD_NAME);
    for (int i = 0; i < num_params; i++) {
        fprintf(f.fp, "%s\n  {\"name\": ", i ? "," : "");
        json_string(f.fp, params[i].name);
        fprintf(f.fp, ", \"shape\": [");
        for (int d = 0; d < params[i].rank; d++)
            fprintf(f.fp, "%s%lld", d ? ", " : "", (long long)params[i].dims[d]);
        fprintf(f.fp, "], \"dtype\": \"float32\"}");
    }
    fprintf(f.fp, "]}]}\n");
    return cnnrt_atomic_commit(&f, e);
}

static int write_shard(const char *path, const cnnrt_param_desc *params, int num_params,
                       const float *weights, cnnrt_err *e)
{
    cnnrt_atomic_file f;
    if (cnnrt_atomic_open(&f, path, e))
        return -1;
    for (int i = 0; i < num_params; i++)   /* little-endian float32, as the host's */
        fwrite(weights + params[i].offset, sizeof(float), (size_t)params[i].size, f.fp);
    return cnnrt_atomic_commit(&f, e);
}

int cnnrt_tfjs_write(const char *dir, const char *keras_config, const cnnrt_param_desc *params,
                     int num_params, const float *weights, cnnrt_err *e)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0777) != 0)
            return cnnrt_fail_errno(e, "%s: cannot create the directory", dir);
    } else if (!S_ISDIR(st.st_mode)) {
        return cnnrt_fail(e, "%s: exists and is not a directory", dir);
    }
    size_t n = strlen(dir) + sizeof SHARD_NAME + 16;
    char *shard = cnnrt_xmalloc(n), *json = cnnrt_xmalloc(n);
    snprintf(shard, n, "%s/%s", dir, SHARD_NAME);
    snprintf(json, n, "%s/model.json", dir);
    /* The shard first: a model.json is never left pointing at a missing shard. */
    int failed = write_shard(shard, params, num_params, weights, e) ||
                 write_model_json(json, keras_config, params, num_params, e);
    free(shard);
    free(json);
    return failed ? -1 : 0;
}
