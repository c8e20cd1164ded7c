#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node) for the interop tests.
//   node ort_run.js MODEL.onnx INPUTS.f32 N H W C [nchw]
// INPUTS.f32: N*H*W*C little-endian float32, NHWC; with "nchw" they are transposed for a
// model whose input is [N, C, H, W]. Prints the first output as JSON rows.
// The package is found through $CNNC_NODE_MODULES.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.CNNC_NODE_MODULES, 'onnxruntime-node'));

function toNchw(x, n, h, w, c) {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let yy = 0; yy < h; yy++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++)
          y[((i * c + ch) * h + yy) * w + xx] = x[((i * h + yy) * w + xx) * c + ch];
  return y;
}

async function main() {
  const [model, inputs, n, h, w, c, layout] = process.argv.slice(2);
  const buf = fs.readFileSync(inputs);
  let data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  if (layout === 'nchw') data = toNchw(data, +n, +h, +w, +c);
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1});
  const dims = layout === 'nchw' ? [+n, +c, +h, +w] : [+n, +h, +w, +c];
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  const out = (await session.run(feeds))[session.outputNames[0]];
  const k = out.data.length / +n;
  const rows = [];
  for (let i = 0; i < +n; i++) rows.push(Array.from(out.data.slice(i * k, (i + 1) * k)));
  process.stdout.write(JSON.stringify(rows) + '\n');
}
main().catch((e) => { console.error(`ort_run.js: ${e.message}`); process.exit(1); });
