#!/usr/bin/env node
// models/mnist.cnn in ONNX Runtime (npm onnxruntime-node, its CPU build with MLAS kernels),
// for side-by-side benchmarks against cnnc. Only bench/run.sh uses it: ONNX Runtime is
// never a dependency of cnnc or of its tests. The ONNX file comes from bench/onnx_mnist.py.
//
//   node ort_mnist.js check --model M.onnx --dir CHECK_DIR --threads T
//       runs the model on the inputs bench_cnnc --check-dir wrote and prints the largest
//       difference from cnnc's probabilities as one JSON line; exits 1 above 1e-5
//   node ort_mnist.js bench --model M.onnx --threads T --reps R --seconds S [--data DIR]
//       times inference at batch 256 and 1 (--batches N,N,...: those, at most 256); one JSON
//       line per (bench, batch), the schema of bench_cnnc and pytorch_mnist.py, framework
//       "onnxruntime"
//
// Sessions run as a user deploying this model would: intraOpNumThreads = the thread count
// (so a batch of one image is split over both cores), graph optimisation level 'all'.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const ORT_DIR = path.resolve(process.env.ORT_NODE_MODULES || path.join(__dirname, 'node_modules'));
const ort = require(path.join(ORT_DIR, 'onnxruntime-node'));

const H = 28, W = 28, C = 1, CLASSES = 10, CHECK_TOLERANCE = 1e-5;

function parseArgs(argv) {
  const args = {command: argv[0], threads: 2, reps: 5, seconds: 1, warmup: 0.5};
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (i + 1 >= argv.length) throw new Error(`--${key} needs a value`);
    const value = argv[i + 1];
    args[key] = ['threads', 'reps'].includes(key) ? parseInt(value, 10)
              : ['seconds', 'warmup'].includes(key) ? parseFloat(value) : value;
  }
  return args;
}

async function openSession(model, threads) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

async function infer(session, images, n) {
  const feeds = {images: new ort.Tensor('float32', images, [n, H, W, C])};
  const out = await session.run(feeds);
  return out.probs.data;
}

// ---- IDX test images (raw or gzip), as bench_cnnc and pytorch_mnist.py read them ----------

function readIdxImages(dir) {
  const names = fs.readdirSync(dir).filter((f) => /^t10k-images[-.]idx3-ubyte(\.gz)?$/.test(f));
  if (!names.length) throw new Error(`${dir}: no t10k-images-idx3-ubyte[.gz]`);
  let data = fs.readFileSync(path.join(dir, names[0]));
  if (data[0] === 0x1f && data[1] === 0x8b) data = zlib.gunzipSync(data);
  if (data.readUInt32BE(0) !== 0x803) throw new Error(`${names[0]}: not an IDX image file`);
  const count = data.readUInt32BE(4), h = data.readUInt32BE(8), w = data.readUInt32BE(12);
  if (h !== H || w !== W) throw new Error(`${names[0]}: ${h}x${w} images, expected ${H}x${W}`);
  const images = new Float32Array(count * H * W);
  for (let i = 0; i < images.length; i++) images[i] = data[16 + i] / 255;
  return {images, count};
}

function syntheticImages(count, seed) {
  let s = BigInt(seed) || 1n;
  const images = new Float32Array(count * H * W * C);
  for (let i = 0; i < images.length; i++) {   // xorshift64: any fixed pattern will do
    s ^= (s << 13n) & 0xffffffffffffffffn; s ^= s >> 7n; s ^= (s << 17n) & 0xffffffffffffffffn;
    images[i] = Number(s & 0xffffn) / 65535;
  }
  return {images, count};
}

// ---- Commands -----------------------------------------------------------------------------

async function check(args) {
  const meta = JSON.parse(fs.readFileSync(path.join(args.dir, 'meta.json'), 'utf8'));
  const n = meta.n;
  const readF32 = (name) => {
    const buf = fs.readFileSync(path.join(args.dir, name));
    return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  };
  const inputs = readF32('inputs.f32'), cnncProbs = readF32('probs.f32');
  const session = await openSession(args.model, args.threads);
  const probs = await infer(session, inputs.slice(0, n * H * W * C), n);
  let maxDiff = 0, sameArgmax = 0;
  for (let i = 0; i < n; i++) {
    let a = 0, b = 0;
    for (let k = 0; k < CLASSES; k++) {
      const j = i * CLASSES + k;
      maxDiff = Math.max(maxDiff, Math.abs(probs[j] - cnncProbs[j]));
      if (probs[j] > probs[i * CLASSES + a]) a = k;
      if (cnncProbs[j] > cnncProbs[i * CLASSES + b]) b = k;
    }
    sameArgmax += a === b;
  }
  console.log(JSON.stringify({framework: 'onnxruntime', check: 'same weights and inputs as cnnc',
                              n, ort_infer_max_abs_diff_probs: maxDiff,
                              ort_infer_same_argmax: sameArgmax}));
  if (!(maxDiff <= CHECK_TOLERANCE)) {
    console.error(`ort_mnist.js: ONNX Runtime's probabilities differ from cnnc's by ${maxDiff}` +
                  ` (more than ${CHECK_TOLERANCE}): not the same computation`);
    process.exitCode = 1;
  }
}

// images/s of each of `reps` repetitions; each lasts at least `seconds` and 3 calls.
async function timeReps(runOnce, imagesPerCall, args) {
  const clock = () => Number(process.hrtime.bigint()) / 1e9;
  let end = clock() + args.warmup, calls = 0;
  while (calls < 2 || clock() < end) { await runOnce(); calls++; }
  const rates = [];
  for (let r = 0; r < args.reps; r++) {
    const start = clock();
    let elapsed = 0;
    calls = 0;
    do { await runOnce(); calls++; elapsed = clock() - start; }
    while (calls < 3 || elapsed < args.seconds);
    rates.push(calls * imagesPerCall / elapsed);
  }
  return rates;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function bench(args) {
  const data = args.data ? readIdxImages(args.data) : syntheticImages(256, 43);
  if (data.count < 256) throw new Error('need at least 256 test images');
  const session = await openSession(args.model, args.threads);
  console.log(JSON.stringify({framework: 'onnxruntime', info: 'config',
                              onnxruntime: require(path.join(ORT_DIR, 'onnxruntime-node',
                                                             'package.json')).version,
                              threads: args.threads, data: args.data || 'synthetic'}));
  const batches = args.batches ? String(args.batches).split(',').map((b) => parseInt(b, 10))
                               : [256, 1];
  if (batches.some((b) => !(b >= 1 && b <= 256))) throw new Error('--batches: 1 to 256 each');
  for (const batch of batches) {
    const x = data.images.slice(0, batch * H * W * C);
    const rates = await timeReps(() => infer(session, x, batch), batch, args);
    console.log(JSON.stringify({framework: 'onnxruntime', bench: 'infer', batch,
                                unit: 'images/s', median: median(rates),
                                reps: rates.map((r) => Math.round(r * 10) / 10)}));
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.command === 'check') return check(args);
  if (args.command === 'bench') return bench(args);
  console.error('usage: ort_mnist.js check|bench --model M.onnx [options] (see the file)');
  process.exitCode = 2;
}

main().catch((err) => { console.error(`ort_mnist.js: ${err.message}`); process.exitCode = 1; });
