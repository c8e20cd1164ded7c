#!/usr/bin/env node
// Loads a TensorFlow.js layers model (model.json + shards) with tf.loadLayersModel
// (npm @tensorflow/tfjs, CPU backend) and runs it, for the interop tests.
//   node tfjs_run.js DIR INPUTS.f32 N H W C
// The files are read through a custom IO handler (tfjs's file:// handler lives in
// tfjs-node, a native add-on). Prints the predictions as JSON rows.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require(path.join(process.env.CNNC_NODE_MODULES, '@tensorflow/tfjs'));

function dirHandler(dir) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const specs = [], buffers = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology, format: json.format,
        generatedBy: json.generatedBy, convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length),
      };
    },
  };
}

async function main() {
  const [dir, inputs, n, h, w, c] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(dirHandler(dir));
  const buf = fs.readFileSync(inputs);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const out = model.predict(tf.tensor4d(data, [+n, +h, +w, +c]));
  process.stdout.write(JSON.stringify(await out.array()) + '\n');
}
main().catch((e) => { console.error(`tfjs_run.js: ${e.stack || e.message}`); process.exit(1); });
