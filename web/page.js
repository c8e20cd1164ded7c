// The draw-a-digit page: draws on a canvas, hands its pixels to the WebAssembly module
// (the model compiled by cnnc, the runtime's digit preparation inside, web/digit_exports.c),
// shows the ten probabilities and the Grad-CAM map. Written by hand; no library.
// For tests and the curious, #answer carries the last result: data-class, data-probs and
// data-map (JSON arrays of the module's float32s), data-ms (one prediction + Grad-CAM).
'use strict';

const SIDE = 280;                 // the drawing canvas, 10 times MNIST's 28
const drawCanvas = document.getElementById('draw');
const camCanvas = document.getElementById('cam');
const draw = drawCanvas.getContext('2d', { willReadFrequently: true });
const cam = camCanvas.getContext('2d');
const answer = document.getElementById('answer');
const methodSelect = document.getElementById('method');
const layerSelect = document.getElementById('layer');
const moduleFile = document.currentScript.dataset.module;  // read now: null after an await
const moduleScript = document.currentScript.dataset.moduleScript;  // the same, as base64
let m = null;                     // the module's exports
let pending = false;              // an update is queued for the next frame
let shown = null;                 // the example on the canvas, or null for a drawing

const floats = (offset, count) => new Float32Array(m.memory.buffer, offset, count);
const text = (offset) => {
  const bytes = new Uint8Array(m.memory.buffer, offset);
  return new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
};

function clearDrawing() {
  draw.fillStyle = '#000';
  draw.fillRect(0, 0, SIDE, SIDE);
  shown = null;
}

// Strokes white on black, as MNIST's digits are; round caps so a tap leaves a dot.
function strokeTo(last, x, y) {
  draw.strokeStyle = '#fff';
  draw.lineWidth = 20;
  draw.lineCap = 'round';
  draw.lineJoin = 'round';
  draw.beginPath();
  draw.moveTo(last.x, last.y);
  draw.lineTo(x, y);
  draw.stroke();
}

function setUpDrawing() {
  let last = null;
  const where = (ev) => {
    const r = drawCanvas.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * SIDE / r.width, y: (ev.clientY - r.top) * SIDE / r.height };
  };
  drawCanvas.addEventListener('pointerdown', (ev) => {
    if (shown) clearDrawing();
    drawCanvas.setPointerCapture(ev.pointerId);
    last = where(ev);
    strokeTo(last, last.x, last.y);
    requestUpdate();
  });
  drawCanvas.addEventListener('pointermove', (ev) => {
    if (!last) return;
    const p = where(ev);
    strokeTo(last, p.x, p.y);
    last = p;
    requestUpdate();
  });
  const end = () => { last = null; };
  drawCanvas.addEventListener('pointerup', end);
  drawCanvas.addEventListener('pointercancel', end);
  document.getElementById('clear').addEventListener('click', () => { clearDrawing(); requestUpdate(); });
}

// The drawing's gray values into the module, prepared there as `predict` prepares a digit.
function inputFromDrawing() {
  const rgba = draw.getImageData(0, 0, SIDE, SIDE).data;
  const at = m.cnnc_canvas(SIDE, SIDE);   // may grow the memory: take the view after it
  const gray = new Uint8Array(m.memory.buffer, at, SIDE * SIDE);
  let ink = false;
  for (let i = 0; i < SIDE * SIDE; i++) { gray[i] = rgba[4 * i]; ink = ink || gray[i] > 0; }
  if (!ink) return false;
  if (m.cnnc_prepare_digit(SIDE, SIDE) !== 0) throw new Error('the module could not prepare the drawing');
  return true;
}

// A test-set example is already an MNIST digit: its bytes / 255, as the programs read it.
function inputFromExample(example) {
  const input = floats(m.cnnc_input(), 784);
  for (let i = 0; i < 784; i++) input[i] = Math.fround(example.bytes[i] / 255);
}

// One prediction and one map, the work timed on the "about" line: cnnc_gradcam runs the
// model forward (the probabilities) and back (the map of the predicted class) in one call.
function runModel() {
  const layer = Number(layerSelect.value), method = Number(methodSelect.value);
  const start = performance.now();
  if (m.cnnc_gradcam(layer, method, -1) !== 0) throw new Error('Grad-CAM refused its arguments');
  const ms = performance.now() - start;
  const probs = floats(m.cnnc_probs(), m.cnnc_num_classes());
  const predicted = probs.indexOf(Math.max(...probs));
  return { predicted, layer, ms };
}

function showBars(probs, predicted) {
  const bars = document.getElementById('bars');
  bars.textContent = '';
  probs.forEach((p, k) => {
    const label = document.createElement('span');
    label.textContent = k;
    const track = document.createElement('div');
    track.className = 'track';
    const bar = document.createElement('div');
    bar.className = k === predicted ? 'bar top' : 'bar';
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    track.appendChild(bar);
    const value = document.createElement('span');
    value.textContent = `${(100 * p).toFixed(1)}%`;
    bars.append(label, track, value);
  });
}

// Blue (0) through green to red (1).
function heatColour(v) {
  const r = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 3)));
  const g = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 2)));
  const b = Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - 1)));
  return [255 * r, 255 * g, 255 * b];
}

// The model's 28x28 input in gray with the map over it, each map cell a square.
function showMap(map, h, w) {
  const input = floats(m.cnnc_input(), 784);
  const image = cam.createImageData(SIDE, SIDE);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const g = 255 * input[Math.floor(y / 10) * 28 + Math.floor(x / 10)];
      const c = heatColour(map[Math.floor(y * h / SIDE) * w + Math.floor(x * w / SIDE)]);
      const o = 4 * (y * SIDE + x);
      for (let k = 0; k < 3; k++) image.data[o + k] = 0.55 * c[k] + 0.45 * g;
      image.data[o + 3] = 255;
    }
  }
  cam.putImageData(image, 0, 0);
}

function update() {
  pending = false;
  if (!shown && !inputFromDrawing()) {
    answer.textContent = 'Draw a digit';
    answer.dataset.class = '-1';
    showBars(new Array(10).fill(0), -1);
    cam.fillStyle = '#000';
    cam.fillRect(0, 0, SIDE, SIDE);
    return;
  }
  if (shown) inputFromExample(shown);
  const { predicted, layer, ms } = runModel();
  const probs = Array.from(floats(m.cnnc_probs(), m.cnnc_num_classes()));
  const h = m.cnnc_cam_layer_h(layer), w = m.cnnc_cam_layer_w(layer);
  const map = Array.from(floats(m.cnnc_map(), h * w));
  let said = `The network reads: ${predicted} (${(100 * probs[predicted]).toFixed(1)}% sure)`;
  answer.classList.toggle('wrong', !!shown && shown.label !== predicted);
  if (shown) said += shown.label === predicted ? `; the test set says ${shown.label}: right`
                                               : `; the test set says ${shown.label}: a mistake`;
  answer.textContent = said;
  Object.assign(answer.dataset, { class: String(predicted), probs: JSON.stringify(probs),
                                  map: JSON.stringify(map), mapH: String(h), mapW: String(w),
                                  ms: ms.toFixed(3) });
  showBars(probs, predicted);
  showMap(map, h, w);
}

function requestUpdate() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(update);
}

function setUpExamples() {
  const examples = JSON.parse(document.getElementById('example-data').textContent);
  const box = document.getElementById('examples');
  for (const example of examples) {
    example.bytes = Uint8Array.from(atob(example.pixels), (c) => c.charCodeAt(0));
    const button = document.createElement('button');
    button.dataset.index = example.index;
    button.title = `test digit ${example.index} (a ${example.label})`;
    const thumb = document.createElement('canvas');
    thumb.width = thumb.height = 28;
    const t = thumb.getContext('2d');
    const img = t.createImageData(28, 28);
    example.bytes.forEach((v, i) => { img.data.set([v, v, v, 255], 4 * i); });
    t.putImageData(img, 0, 0);
    button.append(thumb, ` ${example.label}`);
    button.addEventListener('click', () => {
      draw.imageSmoothingEnabled = false;
      draw.drawImage(thumb, 0, 0, SIDE, SIDE);
      shown = example;
      requestUpdate();
    });
    box.appendChild(button);
  }
}

// Times `count` predictions with maps on what is loaded now; the page's own figure.
function timeUpdates(count) {
  const start = performance.now();
  for (let i = 0; i < count; i++) runModel();
  return (performance.now() - start) / count;
}

// Loads a classic script (allowed from file://, unlike fetch) and waits for it.
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.appendChild(script);
  });
}

// From a web server, the .wasm itself (compiled while it downloads); from file://, where
// browsers refuse to fetch it, or from a server that does not serve it, the same module as
// base64 in a script (NAME.wasm.js). page.dataset.loaded says which, for the tests.
async function instantiate() {
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    try {
      const { instance } = await WebAssembly.instantiateStreaming(fetch(moduleFile), {});
      document.body.dataset.loaded = 'wasm';
      return instance;
    } catch (err) { /* served without application/wasm, or not at all: the script */ }
  }
  await loadScript(moduleScript);
  const binary = atob(window.cnncModuleBase64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = binary.charCodeAt(i);
  const { instance } = await WebAssembly.instantiate(bytes, {});
  document.body.dataset.loaded = 'script';
  return instance;
}

async function main() {
  const instance = await instantiate();
  m = instance.exports;
  for (let i = 0; i < m.cnnc_num_cam_layers(); i++) {
    const option = document.createElement('option');
    option.value = i;
    option.textContent = `${text(m.cnnc_cam_layer_name(i))} (${m.cnnc_cam_layer_h(i)}x${m.cnnc_cam_layer_w(i)})`;
    layerSelect.appendChild(option);
  }
  layerSelect.value = String(m.cnnc_default_cam_layer());
  methodSelect.addEventListener('change', requestUpdate);
  layerSelect.addEventListener('change', requestUpdate);
  clearDrawing();
  setUpDrawing();
  setUpExamples();
  update();
  // Browsers run a module's first calls from quickly made baseline code and optimise the
  // functions that keep running: timed after a warm-up, as while drawing.
  timeUpdates(30);
  document.getElementById('about').textContent +=
    ` Model ${text(m.cnnc_model_name())}; one prediction with its Grad-CAM map takes ` +
    `${timeUpdates(20).toFixed(2)} ms here.`;
  window.cnncPage = { timeUpdates };
  document.body.dataset.ready = '1';
}

main().catch((err) => { answer.textContent = `The page could not start: ${err}`; console.error(err); });
