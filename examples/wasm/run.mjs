// Runs a model compiled to WebAssembly (model_exports.c) in Node.js on one picture and
// prints what examples/embed/main.c prints, so that the two can be compared line by line:
//
//   node examples/wasm/run.mjs mnist_cam.wasm digit.raw [--gradcam] [--layer N] [--method M]
//
// digit.raw: the picture's H*W*C bytes, row by row, 0 = black, 255 = white (as in MNIST's
// IDX files). A web page does the same with the bytes of a canvas (see docs/embedding.md).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const positional = [];
const options = { gradcam: false, layer: null, method: 1 };
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--gradcam') options.gradcam = true;
  else if (args[i] === '--layer') options.layer = Number(args[++i]);
  else if (args[i] === '--method') options.method = Number(args[++i]);
  else positional.push(args[i]);
}
if (positional.length !== 2) {
  console.error('usage: node run.mjs MODEL.wasm PICTURE.raw [--gradcam] [--layer N] [--method M]');
  process.exit(2);
}

const { instance } = await WebAssembly.instantiate(readFileSync(positional[0]), {});
const m = instance.exports;
const floats = (offset, count) => new Float32Array(m.memory.buffer, offset, count);
const text = (offset) => {
  const bytes = new Uint8Array(m.memory.buffer, offset);
  return new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
};
// %.9g as C prints it: enough digits to give back the same float32.
const g9 = (v) => {
  if (v === 0) return '0';
  const e = Math.floor(Math.log10(Math.abs(v)));
  let s = (e < -4 || e >= 9) ? v.toExponential(8) : v.toPrecision(9);
  if (s.includes('e')) {
    let [mant, exp] = s.split('e');
    if (mant.includes('.')) mant = mant.replace(/0+$/, '').replace(/\.$/, '');
    const n = Number(exp);
    return `${mant}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
};

const size = m.cnnc_input_h() * m.cnnc_input_w() * m.cnnc_input_c();
const pixels = readFileSync(positional[1]);
if (pixels.length !== size) {
  console.error(`run.mjs: ${positional[1]}: ${pixels.length} bytes, expected ${size} (H*W*C pixels)`);
  process.exit(1);
}
const input = floats(m.cnnc_input(), size);
for (let i = 0; i < size; i++) input[i] = Math.fround(pixels[i] / 255);

const predicted = m.cnnc_predict();
const k = m.cnnc_num_classes();
console.log(`model ${text(m.cnnc_model_name())}: class ${predicted}`);
console.log('probabilities: ' + Array.from(floats(m.cnnc_probs(), k), g9).join(' '));
if (options.gradcam) {
  const layer = options.layer ?? m.cnnc_default_cam_layer();
  if (m.cnnc_gradcam(layer, options.method, -1) !== 0) {
    console.error(`run.mjs: Grad-CAM refused layer ${layer}, method ${options.method}`);
    process.exit(1);
  }
  const h = m.cnnc_cam_layer_h(layer), w = m.cnnc_cam_layer_w(layer);
  console.log(`gradcam ${text(m.cnnc_cam_layer_name(layer))} ${h}x${w} (method ${options.method}):`);
  const map = floats(m.cnnc_map(), h * w);
  for (let y = 0; y < h; y++) console.log(Array.from(map.subarray(y * w, (y + 1) * w), g9).join(' '));
}
