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
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ARTIFACTS_DIR, LOOPBACK, NAVIGATION_TIMEOUT_MS, SHUT_DOWN_TIMEOUT_MS,
  launchBrowser, prepareArtifactsDir, request, runCli, screenshot, shutDown,
  startDaemon, waitForHealthz,
} from './harness.mjs';

// The page polls every 5 s, so a status change shows within two polls.
const STATUS_POLL_WAIT_MS = 12_000;
const STEP_TIMEOUT_MS = 60_000;
const SUITE_TIMEOUT_MS = 180_000;
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

// ---------------------------------------------------------------------------
// HTTP from Node

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
    prepareArtifactsDir('failed-payment-');

    run.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'citypay-payment-'));
    run.dbPath = path.join(run.tempDir, 'citypay.db');
    await runCli(run.dbPath, 'init');
    const merchant = await runCli(run.dbPath, 'merchant', 'add', '--company', COMPANY, '--email', EMAIL);
    run.customerId = merchant.customer_id;
    assert.ok(Number.isInteger(run.customerId), `merchant add printed no customer_id: ${JSON.stringify(merchant)}`);
    const token = await runCli(run.dbPath, 'token', 'add', '--customer', run.customerId,
                               '--name', 'payment page',
                               '--type', 'crypto', '--currency', 'USD', '--ip', `${LOOPBACK}/32`,
                               '--callback', CALLBACK_URL, '--success-url', SUCCESS_URL,
                               '--cancel-url', CANCEL_URL,
                               '--expires', Math.floor(Date.now() / 1000) + 86400,
                               '--mode', 'sandbox');
    run.accessToken = token.token;
    assert.equal(typeof run.accessToken, 'string', `token add printed no token: ${Object.keys(token)}`);

    const { child, port } = await startDaemon(run.dbPath, path.join(ARTIFACTS_DIR, 'citypayd-payment.log'));
    run.daemon = child;
    run.baseUrl = `http://${LOOPBACK}:${port}`;
    await waitForHealthz(run.baseUrl);

    const { browser, context, page } = await launchBrowser({
      viewport: { width: 480, height: 900 },
      consoleErrors: run.consoleErrors,
      blockedRequests: run.blockedRequests,
    });
    run.browser = browser;
    run.context = context;
    run.page = page;
  });

  after(async () => {
    await shutDown(run);
  }, { timeout: SHUT_DOWN_TIMEOUT_MS });

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
