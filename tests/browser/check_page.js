// Opens a page in headless Chromium (Debian's, through puppeteer-core) and checks what a
// reader would notice:
//   - with --pdf FILE, the page prints to a PDF (print styles applied);
//   - every request stays local (file:, data:, or 127.0.0.1) -- anything else is blocked
//     and reported;
//   - the console shows no error and the page throws none;
//   - each element named by --expect SELECTOR exists (and is not empty);
//   - at each --width W, the page does not scroll sideways (scrollWidth <= innerWidth), and
//     a full-page screenshot is written to OUTDIR/screenshot-W.png.
// Prints one line per check; exits 1 if any failed.
//
// Usage: node check_page.js URL OUTDIR [--expect SELECTOR]... [--width W]... [--pdf FILE]
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

function parseArgs(argv) {
  const args = { url: argv[0], outDir: argv[1], expect: [], widths: [], pdf: null };
  for (let i = 2; i < argv.length; i += 2) {
    if (argv[i] === '--expect') args.expect.push(argv[i + 1]);
    else if (argv[i] === '--width') args.widths.push(Number(argv[i + 1]));
    else if (argv[i] === '--pdf') args.pdf = argv[i + 1];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.url || !args.outDir) throw new Error('usage: check_page.js URL OUTDIR ...');
  return args;
}

function isLocal(url) {
  if (url.startsWith('data:') || url.startsWith('file:') || url.startsWith('about:')) return true;
  try {
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost';
  } catch (e) {
    return false;
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const failures = [];
  const check = (ok, what) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures.push(what);
  };
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--allow-file-access-from-files'],
  });
  try {
    const page = await browser.newPage();
    const outside = [], consoleErrors = [];
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (isLocal(req.url())) return req.continue();
      outside.push(req.url());
      return req.abort();
    });
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    await page.setViewport({ width: args.widths[0] || 1280, height: 900 });
    await page.goto(args.url, { waitUntil: 'load' });
    for (const selector of args.expect) {
      const found = await page.$eval(selector, (el) => el.matches('img,svg,canvas') ||
                                     el.textContent.trim().length > 0 ||
                                     el.querySelector('img,svg,canvas') !== null)
        .catch(() => false);
      check(found, `the page has ${selector}`);
    }
    fs.mkdirSync(args.outDir, { recursive: true });
    for (const width of args.widths) {
      await page.setViewport({ width, height: 900 });
      const size = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
      check(size.scroll <= size.inner,
            `no sideways scrolling at ${width} px (page ${size.scroll} px wide)`);
      const shot = path.join(args.outDir, `screenshot-${width}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      check(fs.statSync(shot).size > 0, `screenshot at ${width} px: ${shot}`);
    }
    if (args.pdf) {
      await page.pdf({ path: args.pdf, format: 'A4', printBackground: true });
      const head = fs.readFileSync(args.pdf).subarray(0, 5).toString();
      check(head === '%PDF-', `prints to PDF: ${args.pdf}`);
    }
    check(outside.length === 0, `no request left the machine${outside.length ?
          ': ' + outside.slice(0, 3).join(', ') : ''}`);
    check(consoleErrors.length === 0, `no console error${consoleErrors.length ?
          ': ' + consoleErrors.slice(0, 3).join(' | ') : ''}`);
  } finally {
    await browser.close();
  }
  if (failures.length) {
    console.log(`${failures.length} check(s) failed`);
    process.exit(1);
  }
}

main().catch((err) => { console.error(`check_page.js: ${err.stack || err}`); process.exit(1); });
