// Browser test of the payment page: headless Chromium, driven by
// playwright-core, pays a sandbox order with BTC, waits for the page's
// status poll to show the confirmation, and cancels a second order.
//
// The steps share one daemon and one browser context. Every server listens
// on 127.0.0.1 and every request goes there only.
//
// Environment:
//   CITYPAY_BUILD_DIR       directory with citypayd and citypayctl (default: ../../build)
//   CITYPAY_TEST_ARTIFACTS  where screenshots and citypayd-payment.log go
//                           (default: <build dir>/test-artifacts/browser)
//   CITYPAY_CHROMIUM        Chromium binary (default: /usr/bin/chromium)
//
// Run: cd tests/browser && npm ci && node --test payment.test.mjs

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD_DIR = path.resolve(process.env.CITYPAY_BUILD_DIR || path.join(HERE, '..', '..', 'build'));
const CITYPAYD = path.join(BUILD_DIR, 'citypayd');
const CITYPAYCTL = path.join(BUILD_DIR, 'citypayctl');
const ARTIFACTS_DIR = path.resolve(process.env.CITYPAY_TEST_ARTIFACTS ||
                                   path.join(BUILD_DIR, 'test-artifacts', 'browser'));
const CHROMIUM = process.env.CITYPAY_CHROMIUM || '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach
// Google's hosts, which a machine without outside network refuses.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const LOOPBACK = '127.0.0.1';
const CLI_TIMEOUT_MS = 30_000;
const DAEMON_START_TIMEOUT_MS = 15_000;
const DAEMON_STOP_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 15_000;
const BROWSER_LAUNCH_TIMEOUT_MS = 30_000;
const ACTION_TIMEOUT_MS = 15_000;
const NAVIGATION_TIMEOUT_MS = 20_000;
// The page polls every 5 s, so a status change shows within two polls.
const STATUS_POLL_WAIT_MS = 12_000;
const STEP_TIMEOUT_MS = 60_000;
const SUITE_TIMEOUT_MS = 180_000;
const BROWSER_CLOSE_TIMEOUT_MS = 15_000;
const BTC_CONFIRMATIONS = 2;

const COMPANY = 'Payment Page Shop';
const EMAIL = 'owner@payment-page.example';
// Port 9 (discard) of the loopback: the browser never follows these links.
const SUCCESS_URL = 'http://127.0.0.1:9/thanks';
const CANCEL_URL = 'http://127.0.0.1:9/back-to-cart';
const CALLBACK_URL = 'http://127.0.0.1:9/callback';

// State that the steps hand on to each other.
const run = {
  tempDir: null,
  dbPath: null,
  daemon: null,
  baseUrl: null,
  customerId: null,
  accessToken: null,
  browser: null,
  context: null,
  page: null,
  // Console errors and CSP violations not yet checked, each {text, url}.
  consoleErrors: [],
  // Requests the browser tried to send somewhere other than 127.0.0.1.
  blockedRequests: [],
};

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Settle like promise, or reject when it takes longer than ms.
async function withTimeout(promise, ms, description) {
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${description} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// citypayctl and citypayd

// Run `citypayctl --db DB --json ARGS...` and return its JSON output.
function runCli(...args) {
  const argv = ['--db', run.dbPath, '--json', ...args.map(String)];
  return new Promise((resolve, reject) => {
    execFile(CITYPAYCTL, argv, { timeout: CLI_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`citypayctl ${args.join(' ')} failed: ${error.message}\n` +
                         `stdout: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (parseError) {
        reject(new Error(`citypayctl ${args.join(' ')} printed no JSON: ${parseError.message}\n` +
                         `stdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}

// Return the port of addr=HOST:PORT in a logfmt line, or null.
function parseListenPort(line) {
  const match = /(?:^|\s)addr="?([^\s"]+)"?/.exec(line);
  if (!match) {
    return null;
  }
  const port = Number(match[1].slice(match[1].lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? port : null;
}

// Start citypayd on an ephemeral port of 127.0.0.1; resolves with {child, port}.
function startDaemon(logPath) {
  const child = spawn(CITYPAYD, ['--db', run.dbPath, '--listen', `${LOOPBACK}:0`], {
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = fs.createWriteStream(logPath);
  child.stderr.pipe(log);

  return new Promise((resolve, reject) => {
    let pending = '';
    let logText = '';
    const timer = setTimeout(() => {
      fail(new Error(`citypayd logged no msg=listening line within ${DAEMON_START_TIMEOUT_MS} ms;` +
                     ` stderr:\n${logText.slice(-4000)}`));
    }, DAEMON_START_TIMEOUT_MS);

    function fail(error) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    }

    child.on('error', (error) => fail(new Error(`citypayd did not start: ${error.message}`)));
    child.on('exit', (code, signal) => {
      fail(new Error(`citypayd exited (code ${code}, signal ${signal}) before listening;` +
                     ` stderr:\n${logText.slice(-4000)}`));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      logText = (logText + chunk).slice(-20000);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        const port = line.includes('msg=listening') ? parseListenPort(line) : null;
        if (port) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve({ child, port });
          return;
        }
      }
    });
  });
}

// Resolve true when the child exits within ms, false otherwise.
function waitForExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

// Stop the daemon by its PID: SIGTERM, then SIGKILL after DAEMON_STOP_TIMEOUT_MS.
async function stopDaemon(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  process.kill(child.pid, 'SIGTERM');
  if (!(await waitForExit(child, DAEMON_STOP_TIMEOUT_MS))) {
    console.error(`citypayd (pid ${child.pid}) ignored SIGTERM for ${DAEMON_STOP_TIMEOUT_MS} ms; sending SIGKILL`);
    process.kill(child.pid, 'SIGKILL');
    await waitForExit(child, 5_000);
  }
}

// ---------------------------------------------------------------------------
// HTTP from Node

// Send one request to a 127.0.0.1 URL; redirects are returned, not followed.
async function request(url, { method = 'GET', form = null } = {}) {
  const target = new URL(url);
  assert.equal(target.hostname, LOOPBACK, `the test sends requests to ${LOOPBACK} only, not to ${url}`);

  const init = { method, headers: {}, redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) };
  if (form) {
    init.body = new URLSearchParams(form).toString();
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  const response = await fetch(target, init);
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: response.status, text, body };
}

async function waitForHealthz() {
  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
  let last = 'no response';

  while (Date.now() < deadline) {
    try {
      const response = await request(`${run.baseUrl}/healthz`);
      if (response.status === 200) {
        return;
      }
      last = `HTTP ${response.status} ${response.text.slice(0, 300)}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(200);
  }
  throw new Error(`GET /healthz did not return 200 within ${DAEMON_START_TIMEOUT_MS} ms; last: ${last}`);
}

let orderCounter = 0;

// Create an order with POST /api/generateOrder and return its data.
async function generateOrder() {
  orderCounter += 1;
  const suffix = `${Date.now().toString(36)}-${orderCounter}`;
  const response = await request(`${run.baseUrl}/api/generateOrder`, {
    method: 'POST',
    form: {
      customer_id: String(run.customerId),
      access_token: run.accessToken,
      order_id: `payment-page-${suffix}`,
      order_token: `payment-${suffix}`,
      amount: '10.00',
    },
  });
  assert.ok(response.status === 200 || response.status === 201,
            `POST /api/generateOrder: HTTP ${response.status} ${response.text.slice(0, 500)}`);
  const data = response.body?.data;
  assert.equal(typeof data?.payment_url, 'string', `no payment_url: ${response.text.slice(0, 500)}`);
  assert.equal(new URL(data.payment_url).origin, run.baseUrl,
               `payment_url ${data.payment_url} does not point at the daemon`);
  return data;
}

// GET /order/{token}: the parsed data and the exact text of data.amount.
async function orderInfo(token) {
  const response = await request(`${run.baseUrl}/order/${encodeURIComponent(token)}`);
  assert.equal(response.status, 200, `GET /order/${token}: ${response.text.slice(0, 500)}`);
  // JSON.parse turns the decimal into a binary double, so the exact digits
  // come from the response text. "amount" is the first such key in data.
  const match = /"amount"\s*:\s*"?([0-9.]+)/.exec(response.text);
  return { data: response.body.data, amountText: match ? match[1] : null };
}

// ---------------------------------------------------------------------------
// Browser helpers

async function screenshot(page, name) {
  const file = path.join(ARTIFACTS_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Fail when a page logged a console error or a CSP violation since the last
// check, or the browser tried to leave the loopback address.
function assertNoConsoleErrors() {
  const errors = run.consoleErrors.splice(0, run.consoleErrors.length);
  assert.deepEqual(errors, [], 'pages logged console errors or CSP violations');
  assert.deepEqual(run.blockedRequests, [], `the browser sent requests outside ${LOOPBACK}`);
}

// Run a step's body; on failure save a screenshot and name it in the error.
async function withFailureScreenshot(name, body) {
  try {
    await body();
  } catch (error) {
    if (run.page) {
      try {
        const file = await screenshot(run.page, `failed-payment-${name}.png`);
        error.message += `\npage: ${run.page.url()}\nscreenshot: ${file}`;
      } catch (screenshotError) {
        error.message += `\n(no screenshot: ${screenshotError.message})`;
      }
    }
    throw error;
  }
}

// Click a submit button and wait for the page that the post leads to.
async function submitAndWait(page, button) {
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: NAVIGATION_TIMEOUT_MS }),
    button.click(),
  ]);
}

function statusLabel(page) {
  return page.locator('header .status strong');
}

function copyableField(page, label) {
  return page.locator('.field').filter({
    has: page.locator('.field-label', { hasText: label }),
  }).locator('code.copy');
}

// ---------------------------------------------------------------------------
// The steps

describe('payment page in Chromium', { concurrency: 1, timeout: SUITE_TIMEOUT_MS }, () => {
  before(async () => {
    for (const binary of [CITYPAYD, CITYPAYCTL]) {
      assert.ok(fs.existsSync(binary), `${binary} not found: build the project or set CITYPAY_BUILD_DIR`);
    }
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium`);
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    for (const name of fs.readdirSync(ARTIFACTS_DIR)) {
      if (name.startsWith('failed-payment-') && name.endsWith('.png')) {
        fs.rmSync(path.join(ARTIFACTS_DIR, name));
      }
    }

    run.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'citypay-payment-'));
    run.dbPath = path.join(run.tempDir, 'citypay.db');
    await runCli('init');
    const merchant = await runCli('merchant', 'add', '--company', COMPANY, '--email', EMAIL);
    run.customerId = merchant.customer_id;
    assert.ok(Number.isInteger(run.customerId), `merchant add printed no customer_id: ${JSON.stringify(merchant)}`);
    const token = await runCli('token', 'add', '--customer', run.customerId, '--name', 'payment page',
                               '--type', 'crypto', '--currency', 'USD', '--ip', `${LOOPBACK}/32`,
                               '--callback', CALLBACK_URL, '--success-url', SUCCESS_URL,
                               '--cancel-url', CANCEL_URL,
                               '--expires', Math.floor(Date.now() / 1000) + 86400,
                               '--mode', 'sandbox');
    run.accessToken = token.token;
    assert.equal(typeof run.accessToken, 'string', `token add printed no token: ${Object.keys(token)}`);

    const { child, port } = await startDaemon(path.join(ARTIFACTS_DIR, 'citypayd-payment.log'));
    run.daemon = child;
    run.baseUrl = `http://${LOOPBACK}:${port}`;
    await waitForHealthz();

    run.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      timeout: BROWSER_LAUNCH_TIMEOUT_MS,
    });
    run.context = await run.browser.newContext({ viewport: { width: 480, height: 900 } });
    run.context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    run.context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    await run.context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === LOOPBACK) {
        return route.continue();
      }
      run.blockedRequests.push(url.href);
      return route.abort('blockedbyclient');
    });
    await run.context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
      });
    });
    run.page = await run.context.newPage();
    run.page.on('console', (message) => {
      if (message.type() === 'error') {
        run.consoleErrors.push({ text: message.text(), url: message.location().url || run.page.url() });
      }
    });
    run.page.on('pageerror', (error) => {
      run.consoleErrors.push({ text: `uncaught ${error.name}: ${error.message}`, url: run.page.url() });
    });
  });

  after(async () => {
    try {
      if (run.browser) {
        await withTimeout(run.browser.close(), BROWSER_CLOSE_TIMEOUT_MS, 'closing Chromium');
      }
    } finally {
      if (run.daemon) {
        await stopDaemon(run.daemon);
      }
      if (run.tempDir) {
        fs.rmSync(run.tempDir, { recursive: true, force: true });
      }
    }
  }, { timeout: BROWSER_CLOSE_TIMEOUT_MS + DAEMON_STOP_TIMEOUT_MS + 10_000 });

  it('sandbox BTC payment confirms', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('confirmed', async () => {
      const page = run.page;
      const order = await generateOrder();

      await page.goto(order.payment_url);
      assert.equal(await statusLabel(page).textContent(), 'In progress');
      await page.locator('input[name="coin"][value="BTC"]').check();
      await submitAndWait(page, page.getByRole('button', { name: 'Continue' }));

      const address = (await copyableField(page, 'Address').textContent()).trim();
      assert.match(address, /^bcrt1q/, 'sandbox BTC address');
      const info = await orderInfo(order.token);
      assert.equal(info.data.address, address, 'address on the page and in GET /order');
      const amount = (await copyableField(page, 'Amount (BTC)').textContent()).trim();
      assert.ok(info.amountText, 'GET /order has no data.amount');
      assert.equal(amount, info.amountText, 'amount on the page and data.amount of GET /order');
      assert.equal(await page.locator('.qr svg').count(), 1, 'QR code as inline <svg>');

      // The countdown replaces the server-rendered time within a second or two.
      const countdown = page.locator('[data-remaining-ms]');
      const rendered = await countdown.textContent();
      await page.waitForFunction(
        ([el, text]) => el.textContent !== text, [await countdown.elementHandle(), rendered],
        { timeout: 5_000 });
      assert.match(await countdown.textContent(), /^\d+ (h \d\d min|min \d\d s)$/, 'countdown text');

      await submitAndWait(page, page.getByRole('button', { name: 'Simulate payment' }));
      assert.equal(await statusLabel(page).textContent(), 'Paid, awaiting confirmations');

      // Mine outside the page, so that only the status poll can show the change.
      const mined = await request(`${run.baseUrl}/sandbox/mine`, {
        method: 'POST', form: { blocks: String(BTC_CONFIRMATIONS) },
      });
      assert.equal(mined.status, 200, `POST /sandbox/mine: ${mined.text.slice(0, 300)}`);
      await statusLabel(page).filter({ hasText: /^Confirmed$/ })
        .waitFor({ timeout: STATUS_POLL_WAIT_MS });

      const success = page.getByRole('link', { name: 'Return to the shop' });
      assert.equal(await success.getAttribute('href'), SUCCESS_URL, 'success link');
      assert.equal((await orderInfo(order.token)).data.status.code, 'CONFIRMED');
      await screenshot(page, 'payment-confirmed.png');
      assertNoConsoleErrors();
    });
  });

  it('cancel offers the cancel URL', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('canceled', async () => {
      const page = run.page;
      const order = await generateOrder();

      await page.goto(order.payment_url);
      await submitAndWait(page, page.getByRole('button', { name: 'Cancel payment' }));
      assert.equal(await statusLabel(page).textContent(), 'Canceled');
      const back = page.getByRole('link', { name: 'Back to the shop' });
      assert.equal(await back.getAttribute('href'), CANCEL_URL, 'cancel link');
      assert.equal((await orderInfo(order.token)).data.status.code, 'CANCELED');
      assertNoConsoleErrors();
    });
  });
});
