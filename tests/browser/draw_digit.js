// Drives the draw-a-digit page (web/, cnnc --web) in headless Chromium:
//   - clicks test example N and writes the page's answer to OUT in the form
//     examples/wasm/run.mjs prints (class, probabilities, Grad-CAM map), for comparison
//     with the native program;
//   - draws the same digit as pointer events (one stroke per row of ink pixels) and writes
//     the page's answer to OUT.drawn, the drawing as OUT.png, a screenshot as OUT.shot.png;
//   - prints the page's time of one prediction + Grad-CAM map (mean of 200).
// The URL is http://127.0.0.1:PORT/index.html or file:///.../index.html; it prints where
// the module came from ("module loaded from: wasm" or "script", the base64 copy).
// Requests outside 127.0.0.1 (or, from file://, the page's folder) and console errors fail it (tests/browser/check_page.js checks
// the rest: screenshots, sideways scrolling).
// Usage: node draw_digit.js URL N OUT
'use strict';
const fs = require('fs');
const puppeteer = require('puppeteer-core');

// The page's answer (#answer's data attributes) as examples/wasm/run.mjs prints one.
function answerLines(got, layer) {
  const probs = JSON.parse(got.probs), map = JSON.parse(got.map);
  const h = Number(got.mapH), w = Number(got.mapW);
  const lines = [`model web: class ${got.class}`, `probabilities: ${probs.join(' ')}`,
                 `gradcam ${layer} ${h}x${w} (method 1):`];
  for (let y = 0; y < h; y++) lines.push(map.slice(y * w, (y + 1) * w).join(' '));
  return lines;
}

async function main() {
  const [url, index, out] = process.argv.slice(2);
  const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                           headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const problems = [];
  try {
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    // From a server: 127.0.0.1 only; from file://: the page's own folder only.
    const folder = url.slice(0, url.lastIndexOf('/') + 1);
    const local = (u) => (url.startsWith('file:') ? u.startsWith(folder) && !u.slice(folder.length).includes('/')
                                                  : new URL(u).hostname === '127.0.0.1');
    page.on('request', (req) => {
      if (local(req.url())) return req.continue();
      problems.push(`request outside ${url.startsWith('file:') ? 'the page\'s folder' : '127.0.0.1'}: ${req.url()}`);
      return req.abort();
    });
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
    page.on('pageerror', (err) => problems.push(`page error: ${err}`));
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
    console.log(`module loaded from: ${await page.$eval('body', (b) => b.dataset.loaded)}`);

    await page.click(`#examples button[data-index="${index}"]`);
    await page.waitForFunction(() => document.getElementById('answer').dataset.class !== '-1');
    const layer = await page.$eval('#layer', (s) => s.selectedOptions[0].textContent.split(' ')[0]);
    fs.writeFileSync(out, answerLines(await page.$eval('#answer', (a) => ({ ...a.dataset })), layer).join('\n') + '\n');
    const ms = await page.evaluate(() => window.cnncPage.timeUpdates(200));
    console.log(`one prediction + Grad-CAM map in the page: ${ms.toFixed(3)} ms (mean of 200)`);

    // The same digit drawn by hand: every run of ink pixels (> 127) a stroke of pointer events.
    const bytes = await page.evaluate((i) => Array.from(
      atob(JSON.parse(document.getElementById('example-data').textContent)[i].pixels),
      (c) => c.charCodeAt(0)), Number(index));
    await page.click('#clear');
    const box = await (await page.$('#draw')).boundingBox();
    const at = (x, y) => [box.x + (x + 0.5) * box.width / 28, box.y + (y + 0.5) * box.height / 28];
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        if (bytes[y * 28 + x] <= 127) continue;
        let end = x;
        while (end + 1 < 28 && bytes[y * 28 + end + 1] > 127) end++;
        await page.mouse.move(...at(x, y));
        await page.mouse.down();
        await page.mouse.move(...at(end, y), { steps: 3 });
        await page.mouse.up();
        x = end;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    const drawn = await page.$eval('#answer', (a) => a.dataset.class);
    console.log(`drawn digit: the page reads ${drawn}`);
    await page.screenshot({ path: `${out}.shot.png` });
    // The drawing itself as a PNG, for the native program to prepare and classify.
    const png = await page.$eval('#draw', (c) => c.toDataURL('image/png').split(',')[1]);
    fs.writeFileSync(`${out}.png`, Buffer.from(png, 'base64'));
    fs.writeFileSync(`${out}.drawn`, answerLines(await page.$eval('#answer', (a) => ({ ...a.dataset })), layer).join('\n') + '\n');
  } finally {
    await browser.close();
    for (const p of problems) console.log(`FAIL ${p}`);
  }
  if (problems.length) process.exit(1);
}

main().catch((err) => { console.error(`draw_digit.js: ${err.stack || err}`); process.exit(1); });
