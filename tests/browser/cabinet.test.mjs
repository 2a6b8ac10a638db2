// Browser test of the merchant cabinet: headless Chromium, driven by
// playwright-core, signs in, turns on two-step verification, creates, uses
// and revokes an access token, and checks the CSRF rule of form posts.
//
// The steps run in order and share one daemon, one browser context and the
// state in `run`. A failed step makes the later ones fail too, so read the
// first failure. Every server listens on 127.0.0.1 and every request goes
// there only.
//
// Environment:
//   CITYPAY_BUILD_DIR       directory with citypayd and citypayctl (default: ../../build)
//   CITYPAY_TEST_ARTIFACTS  where screenshots and citypayd.log go
//                           (default: <build dir>/test-artifacts/browser)
//   CITYPAY_CHROMIUM        Chromium binary (default: /usr/bin/chromium)
//
// Run: cd tests/browser && npm ci && npm test

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ARTIFACTS_DIR, LOOPBACK, NAVIGATION_TIMEOUT_MS, SHUT_DOWN_TIMEOUT_MS,
  launchBrowser, prepareArtifactsDir, request, runCli, screenshot, shutDown, sleep,
  startDaemon, waitForHealthz,
} from './harness.mjs';

// A step may wait up to two TOTP periods for unused steps, plus its own actions.
const STEP_TIMEOUT_MS = 75_000;
const SUITE_TIMEOUT_MS = 240_000;

const TOTP_PERIOD_S = 30;
const TOTP_DIGITS = 6;
// One full TOTP period plus a margin, the longest wait for an unused step.
const TOTP_MAX_WAIT_MS = 31_000;

const COMPANY = 'Mug <Shop> & Co';
const EMAIL = 'owner@mugs.example';
const TOKEN_NAME = 'browser shop token';
const IP_WHITELIST = ['127.0.0.1/32', '2001:db8::/48'];
const CALLBACK_URLS = ['http://127.0.0.1:9/a', 'http://127.0.0.1:9/b'];
const SUCCESS_URL = 'http://127.0.0.1:9/success';
const CANCEL_URL = 'http://127.0.0.1:9/cancel';
// An address from TEST-NET-3 (RFC 5737), outside the token's whitelist.
const FOREIGN_CLIENT = '203.0.113.9';

// State that the steps hand on to each other.
const run = {
  tempDir: null,
  dbPath: null,
  daemon: null,
  daemonLogPath: null,
  baseUrl: null,
  customerId: null,
  password: null,
  browser: null,
  context: null,
  page: null,
  totpSecret: null,
  totpSecretText: null,
  lastTotpStep: -1,
  accessToken: null,
  signingSecret: null,
  revealUrl: null,
  // Console errors and CSP violations not yet checked, each {text, url}.
  consoleErrors: [],
  // Requests the browser tried to send somewhere other than 127.0.0.1.
  blockedRequests: [],
};

// ---------------------------------------------------------------------------
// TOTP (RFC 6238) with HMAC-SHA1, 30-second steps and 6 digits

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// Decode RFC 4648 base32; spaces and '-' between groups and '=' padding are skipped.
function base32Decode(text) {
  const symbols = text.toUpperCase().replace(/[\s=-]/g, '');
  const bytes = [];
  let buffer = 0;
  let bitCount = 0;

  for (const symbol of symbols) {
    const value = BASE32_ALPHABET.indexOf(symbol);
    if (value < 0) {
      throw new Error(`invalid base32 character ${JSON.stringify(symbol)} in ${JSON.stringify(text)}`);
    }
    buffer = ((buffer << 5) | value) & 0xffff;
    bitCount += 5;
    if (bitCount >= 8) {
      bitCount -= 8;
      bytes.push((buffer >>> bitCount) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

// Compute the HOTP value (RFC 4226) of one time step as a zero-padded string.
function totpCode(secret, step, digits = TOTP_DIGITS) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

function currentTotpStep() {
  return Math.floor(Date.now() / 1000 / TOTP_PERIOD_S);
}

// Return the code of a time step that no earlier call used, because the
// server accepts each step once. Waits for the next step when the current
// one is used, at most TOTP_MAX_WAIT_MS.
async function freshTotpCode() {
  assert.ok(run.totpSecret, 'no two-step verification secret: the enrolment step failed');
  const deadline = Date.now() + TOTP_MAX_WAIT_MS;

  for (;;) {
    const step = currentTotpStep();
    if (step > run.lastTotpStep) {
      run.lastTotpStep = step;
      return totpCode(run.totpSecret, step);
    }
    const nextStepAt = (step + 1) * TOTP_PERIOD_S * 1000 + 200;
    if (nextStepAt > deadline) {
      throw new Error(`timed out after ${TOTP_MAX_WAIT_MS} ms waiting for an unused TOTP step`);
    }
    await sleep(nextStepAt - Date.now());
  }
}

// ---------------------------------------------------------------------------
// HTTP from Node

// Join the texts of an error envelope, whose message maps each field (or `error`) to one.
function errorText(response) {
  const message = response.body?.message;
  return message && typeof message === 'object' ? Object.values(message).join(' ') : String(message);
}

let orderCounter = 0;

// POST /api/generateOrder with the new token and a fresh order_token.
function generateOrder(headers = {}) {
  orderCounter += 1;
  const suffix = `${Date.now().toString(36)}-${orderCounter}`;
  return request(`${run.baseUrl}/api/generateOrder`, {
    method: 'POST',
    headers,
    form: {
      customer_id: String(run.customerId),
      access_token: run.accessToken,
      order_id: `browser-order-${suffix}`,
      order_token: `browser-${suffix}`,
      amount: '10.00',
    },
  });
}

// ---------------------------------------------------------------------------
// Browser helpers

function pageUrl(pathname) {
  return `${run.baseUrl}${pathname}`;
}

function pathOf(page) {
  return new URL(page.url()).pathname;
}

// Take the console errors recorded so far, leaving the list empty.
function takeConsoleErrors() {
  return run.consoleErrors.splice(0, run.consoleErrors.length);
}

// Fail when a page logged a console error or a CSP violation since the last
// check. `expected` lists patterns of errors that the step caused on purpose.
function assertNoConsoleErrors(expected = []) {
  const unexpected = takeConsoleErrors().filter(
    (entry) => !expected.some((pattern) => pattern.test(entry.text)));
  assert.deepEqual(unexpected, [], 'pages logged console errors or CSP violations');
  assert.deepEqual(run.blockedRequests, [], `the browser sent requests outside ${LOOPBACK}`);
}

// Run a step's body; on failure save a screenshot and name it in the error.
async function withFailureScreenshot(name, body) {
  try {
    await body();
  } catch (error) {
    if (run.page) {
      try {
        const file = await screenshot(run.page, `failed-${name}.png`);
        error.message += `\npage: ${run.page.url()}\nscreenshot: ${file}`;
      } catch (screenshotError) {
        error.message += `\n(no screenshot: ${screenshotError.message})`;
      }
    }
    throw error;
  }
}

async function signInWithPassword(page, password) {
  await page.goto(pageUrl('/cabinet/login'));
  await page.getByLabel('E-mail', { exact: true }).fill(EMAIL);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await Promise.all([
    page.waitForLoadState('load'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

// Wait until the page at `pathname` has loaded, after a form post and its redirect.
async function waitForPath(page, pathname) {
  await page.waitForURL((url) => url.pathname === pathname, { timeout: NAVIGATION_TIMEOUT_MS });
}

function tokenRow(page) {
  return page.locator('tbody tr').filter({
    has: page.getByRole('rowheader').filter({ hasText: TOKEN_NAME }),
  });
}

// ---------------------------------------------------------------------------
// The steps

describe('merchant cabinet in Chromium', { concurrency: 1, timeout: SUITE_TIMEOUT_MS }, () => {
  before(async () => {
    prepareArtifactsDir('failed-');

    run.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'citypay-browser-'));
    run.dbPath = path.join(run.tempDir, 'citypay.db');
    await runCli(run.dbPath, 'init');
    const merchant = await runCli(run.dbPath, 'merchant', 'add', '--company', COMPANY, '--email', EMAIL);
    assert.equal(typeof merchant.initial_password, 'string',
                 `merchant add printed no initial_password: ${JSON.stringify(merchant)}`);
    run.password = merchant.initial_password;
    assert.equal(merchant.customer_id, 1, `the first merchant of a new database: ${JSON.stringify(merchant)}`);
    run.customerId = merchant.customer_id;

    run.daemonLogPath = path.join(ARTIFACTS_DIR, 'citypayd.log');
    const { child, port } = await startDaemon(run.dbPath, run.daemonLogPath, {
      // Trusting the test's own address as a proxy lets a request present
      // another client address in X-Forwarded-For.
      CITYPAY_TRUSTED_PROXIES: `${LOOPBACK}/32`,
    });
    run.daemon = child;
    run.baseUrl = `http://${LOOPBACK}:${port}`;
    await waitForHealthz(run.baseUrl);

    const { browser, context, page } = await launchBrowser({
      viewport: { width: 1280, height: 900 },
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

  it('TOTP helper matches RFC 6238 vector', () => {
    // RFC 6238, appendix B: the SHA-1 key is the ASCII of "12345678901234567890",
    // and at T = 59 s (step 1) the 8-digit value is 94287082.
    const secret = base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.equal(secret.toString('ascii'), '12345678901234567890');
    assert.equal(totpCode(secret, 1, 8), '94287082');
    assert.equal(totpCode(secret, 1), '287082');
    assert.equal(totpCode(secret, Math.floor(1111111109 / 30), 8), '07081804');
  });

  it('sign-in with wrong, then right password', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('sign-in', async () => {
      const page = run.page;

      await signInWithPassword(page, `${run.password}-wrong`);
      assert.equal(pathOf(page), '/cabinet/login', 'a wrong password left the sign-in page');
      const error = page.getByRole('alert');
      await error.waitFor({ state: 'visible' });
      assert.match(await error.innerText(), /not correct/i);
      const me = await run.context.request.get(pageUrl('/cabinet/api/me'));
      assert.equal(me.status(), 401, 'GET /cabinet/api/me after a wrong password should need a session');
      // Chromium logs the 401 of the rejected sign-in form post as a failed resource.
      assertNoConsoleErrors([/status of 401/]);

      await signInWithPassword(page, run.password);
      await waitForPath(page, '/cabinet/tokens');
      const header = page.locator('header');
      await header.getByText(COMPANY, { exact: true }).waitFor({ state: 'visible' });
      await header.getByText(`Customer ID ${run.customerId}`, { exact: true }).waitFor({ state: 'visible' });
      // The company name is text, so the markup contains it escaped and no <shop> element exists.
      assert.ok((await page.content()).includes('Mug &lt;Shop&gt; &amp; Co'),
                'the page HTML does not contain the escaped company name');
      assert.equal(await page.locator('shop').count(), 0, 'the company name was parsed as markup');

      assertNoConsoleErrors();
    });
  });

  it('two-step verification enrolment and sign-in', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('totp', async () => {
      const page = run.page;

      await page.goto(pageUrl('/cabinet/security'));
      await page.getByRole('button', { name: 'Set up two-step verification' }).click();
      const secretText = await page.locator('code.totp-secret').innerText();
      assert.match(secretText.trim(), /^[A-Z2-7]{4}( ?[A-Z2-7]{1,4})*$/,
                   `the page shows no base32 secret: ${JSON.stringify(secretText)}`);
      run.totpSecretText = secretText.replace(/\s/g, '');
      run.totpSecret = base32Decode(secretText);
      assert.equal(run.totpSecret.length, 20, 'the TOTP secret should be 160 bits');
      await page.getByRole('img', { name: /QR code/ }).waitFor({ state: 'visible' });
      await screenshot(page, 'totp-enrolment.png');

      await page.getByLabel('Code', { exact: true }).fill(await freshTotpCode());
      await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
      await waitForPath(page, '/cabinet/security');
      await page.getByText('Two-step verification is on.').waitFor({ state: 'visible' });
      const totpSection = page.getByRole('region', { name: 'Two-step verification' });
      await totpSection.getByText('On', { exact: true }).waitFor({ state: 'visible' });
      assert.equal(await page.getByRole('button', { name: 'Set up two-step verification' }).count(), 0);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await waitForPath(page, '/cabinet/login');
      await page.getByText('You are signed out.').waitFor({ state: 'visible' });
      const signedOut = await run.context.request.get(pageUrl('/cabinet/api/me'));
      assert.equal(signedOut.status(), 401, 'the session should end at sign-out');

      await signInWithPassword(page, run.password);
      await page.getByRole('heading', { name: 'Two-step verification' }).waitFor({ state: 'visible' });
      assert.equal(pathOf(page), '/cabinet/login', 'the code step should come before any cabinet page');
      const halfSignedIn = await run.context.request.get(pageUrl('/cabinet/api/me'));
      assert.equal(halfSignedIn.status(), 401, 'a session waiting for its code must not reach the cabinet');

      await page.getByLabel('Code', { exact: true }).fill(await freshTotpCode());
      await page.getByRole('button', { name: 'Verify' }).click();
      await waitForPath(page, '/cabinet/tokens');
      await page.locator('header').getByText(COMPANY, { exact: true }).waitFor({ state: 'visible' });
      const me = await run.context.request.get(pageUrl('/cabinet/api/me'));
      assert.equal(me.status(), 200);
      assert.equal((await me.json()).data.merchant.totp_enabled, true);

      assertNoConsoleErrors();
    });
  });

  it('token creation with every field', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('create-token', async () => {
      const page = run.page;
      const expiresAt = new Date(Date.now() + 365 * 86400 * 1000).toISOString().slice(0, 16);

      await page.goto(pageUrl('/cabinet/tokens'));
      await page.getByRole('link', { name: 'Add token' }).click();
      await waitForPath(page, '/cabinet/tokens/new');

      await page.getByLabel('Name', { exact: true }).fill(TOKEN_NAME);
      await page.getByLabel('Type', { exact: true }).selectOption('crypto');
      await page.getByLabel('Currency', { exact: true }).selectOption('USD');
      await page.getByLabel('IP whitelist', { exact: true }).fill(IP_WHITELIST.join('\n'));
      await page.getByLabel('Callback URLs', { exact: true }).fill(CALLBACK_URLS.join('\n'));
      await page.getByLabel('Success URL', { exact: true }).fill(SUCCESS_URL);
      await page.getByLabel('Cancel URL', { exact: true }).fill(CANCEL_URL);
      await page.getByLabel('Expires at (UTC)', { exact: true }).fill(expiresAt);
      await page.getByRole('radio', { name: /^Sandbox/ }).check();
      await page.getByLabel('Code from your authenticator app', { exact: true }).fill(await freshTotpCode());
      await page.getByRole('button', { name: 'Create token' }).click();

      await page.getByRole('heading', { name: 'Copy both values now' }).waitFor({ state: 'visible' });
      run.revealUrl = page.url();
      const accessToken = await page.getByLabel('Access token', { exact: true }).inputValue();
      const signingSecret = await page.getByLabel('Signing secret', { exact: true }).inputValue();
      assert.match(accessToken.trim(), /^cp_test_\S{20,}$/, 'the access token of a sandbox token');
      assert.match(signingSecret.trim(), /^whsec_\S{20,}$/, 'the signing secret');
      run.accessToken = accessToken.trim();
      run.signingSecret = signingSecret.trim();

      const warning = page.getByRole('alert').filter({ hasText: 'Copy both values now' });
      assert.match(await warning.innerText(), /shown only once/);
      // cabinet.js unhides the copy buttons, so visible buttons also show that it ran under the CSP.
      await page.getByRole('button', { name: 'Copy access token' }).waitFor({ state: 'visible' });
      await page.getByRole('button', { name: 'Copy signing secret' }).waitFor({ state: 'visible' });
      const revealScreenshot = await screenshot(page, 'reveal.png');
      assert.ok(fs.statSync(revealScreenshot).size > 0);

      await run.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: run.baseUrl });
      await page.getByRole('button', { name: 'Copy access token' }).click();
      await page.getByRole('button', { name: 'Copied' }).waitFor({ state: 'visible' });
      assert.equal((await page.evaluate(() => navigator.clipboard.readText())).trim(), run.accessToken,
                   'the copy button put something else on the clipboard');

      const listed = await run.context.request.get(pageUrl('/cabinet/api/tokens'));
      assert.equal(listed.status(), 200, `GET /cabinet/api/tokens: ${await listed.text()}`);
      const stored = (await listed.json()).data.tokens.find((token) => token.name === TOKEN_NAME);
      assert.ok(stored, `GET /cabinet/api/tokens does not list ${JSON.stringify(TOKEN_NAME)}`);
      assert.deepEqual(stored.ip_whitelist, IP_WHITELIST);
      assert.deepEqual(stored.callback_urls, CALLBACK_URLS);
      assert.equal(stored.success_url, SUCCESS_URL);
      assert.equal(stored.cancel_url, CANCEL_URL);
      assert.equal(stored.type, 'crypto');
      assert.equal(stored.currency, 'USD');
      assert.equal(stored.mode, 'sandbox');
      assert.equal(stored.status, 'active');
      // The form's datetime-local value is UTC, so appending Z gives the same instant.
      assert.equal(stored.expires_at, Date.parse(`${expiresAt}:00Z`) / 1000);

      assertNoConsoleErrors();
    });
  });

  it('token reveal shown only once', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('reveal-once', async () => {
      const page = run.page;
      assert.ok(run.accessToken, 'no token was created: the creation step failed');
      assert.ok(run.revealUrl, 'no reveal page was seen: the creation step failed');

      await page.reload();
      await page.waitForLoadState('load');
      const html = await page.content();
      assert.ok(!html.includes(run.accessToken), `the access token is still in the page at ${page.url()}`);
      assert.ok(!html.includes(run.signingSecret), `the signing secret is still in the page at ${page.url()}`);

      // Asking for the reveal URL again, outside the page, gives nothing either.
      const again = await run.context.request.get(run.revealUrl, { maxRedirects: 0 });
      const againText = await again.text();
      assert.ok(!againText.includes(run.accessToken), 'a second GET of the reveal URL shows the token');
      assert.ok(!againText.includes(run.signingSecret), 'a second GET of the reveal URL shows the secret');

      assertNoConsoleErrors();
    });
  });

  it('token table lists the new token', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('token-table', async () => {
      const page = run.page;
      assert.ok(run.accessToken, 'no token was created: the creation step failed');

      await page.goto(pageUrl('/cabinet/tokens'));
      const row = tokenRow(page);
      await row.waitFor({ state: 'visible' });
      assert.equal(await row.count(), 1, `expected one row named ${JSON.stringify(TOKEN_NAME)}`);
      const text = await row.innerText();
      const expectedTexts = [...IP_WHITELIST, ...CALLBACK_URLS, SUCCESS_URL, CANCEL_URL,
                             'crypto', 'USD', 'sandbox', 'active'];
      for (const expected of expectedTexts) {
        assert.ok(text.includes(expected), `the token row lacks ${JSON.stringify(expected)}: ${text}`);
      }
      assert.ok(text.includes(run.accessToken.slice(-4)),
                `the token row does not show the last characters of the token: ${text}`);
      assert.ok(!(await page.content()).includes(run.accessToken), 'the token table shows the secret token');
      await screenshot(page, 'tokens.png');

      assertNoConsoleErrors();
    });
  });

  it('token works from whitelisted address only', { timeout: STEP_TIMEOUT_MS }, async () => {
    assert.ok(run.accessToken, 'no token was created: the creation step failed');

    const allowed = await generateOrder();
    assert.equal(allowed.status, 201, `generateOrder from ${LOOPBACK}: ${allowed.text}`);
    assert.equal(allowed.body?.success, true, `generateOrder from ${LOOPBACK}: ${allowed.text}`);

    const foreign = await generateOrder({ 'X-Forwarded-For': FOREIGN_CLIENT });
    assert.equal(foreign.status, 403, `generateOrder from ${FOREIGN_CLIENT}: ${foreign.text}`);
    assert.equal(foreign.body?.error?.reason, 'IpNotAllowed', foreign.text);
    assert.ok(errorText(foreign).includes(FOREIGN_CLIENT),
              `the 403 message does not name the client address: ${foreign.text}`);
  });

  it('revoked token rejected at once', { timeout: STEP_TIMEOUT_MS }, async () => {
    await withFailureScreenshot('revoke', async () => {
      const page = run.page;
      assert.ok(run.accessToken, 'no token was created: the creation step failed');

      await page.goto(pageUrl('/cabinet/tokens'));
      await tokenRow(page).getByRole('link', { name: /^Revoke/ }).click();
      await page.getByRole('heading', { name: /Revoke token/ }).waitFor({ state: 'visible' });
      assert.match(pathOf(page), /^\/cabinet\/tokens\/[^/]+\/revoke$/);

      // cabinet.js calls window.confirm() before it lets the form be sent.
      let confirmMessage = null;
      page.once('dialog', (dialog) => {
        confirmMessage = dialog.message();
        return dialog.accept();
      });
      await page.getByRole('button', { name: 'Revoke token' }).click();
      await waitForPath(page, '/cabinet/tokens');
      assert.match(String(confirmMessage), /Revoke this token/, 'no confirmation dialog before revoking');

      const row = tokenRow(page);
      await row.waitFor({ state: 'visible' });
      assert.ok((await row.innerText()).includes('revoked'), `the row status is not revoked: ${await row.innerText()}`);
      assert.equal(await row.getByRole('link', { name: /^Revoke/ }).count(), 0,
                   'a revoked token still offers Revoke');

      const rejected = await generateOrder();
      assert.equal(rejected.status, 401, `generateOrder with the revoked token: ${rejected.text}`);
      assert.equal(rejected.body?.error?.reason, 'BadCredentials', rejected.text);
      assert.match(errorText(rejected), /revoked/, rejected.text);

      assertNoConsoleErrors();
    });
  });

  it('settings post without CSRF token', { timeout: STEP_TIMEOUT_MS }, async () => {
    const api = run.context.request;

    const stored = await api.get(pageUrl('/cabinet/api/settings'));
    assert.equal(stored.status(), 200, `GET /cabinet/api/settings: ${await stored.text()}`);
    const settings = (await stored.json()).data.settings;

    // Valid settings that differ from the stored ones in order_expiry_minutes.
    const form = new URLSearchParams();
    for (const coin of settings.enabled_coins) {
      form.append('enabled_coins', coin);
    }
    form.append('default_currency', settings.default_currency);
    form.append('tolerance_under_pct', String(settings.tolerance_under_pct));
    form.append('tolerance_over_pct', String(settings.tolerance_over_pct));
    form.append('order_expiry_minutes', String(settings.order_expiry_minutes === 45 ? 50 : 45));
    if (settings.auto_exchange) {
      form.append('auto_exchange', 'on');
    }
    const post = (body) => api.post(pageUrl('/cabinet/settings'), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      data: body.toString(),
      maxRedirects: 0,
    });

    const withoutToken = await post(form);
    assert.equal(withoutToken.status(), 403, `POST /cabinet/settings without csrf_token: ${await withoutToken.text()}`);
    assert.match(await withoutToken.text(), /CSRF/);

    const wrongTokenForm = new URLSearchParams(form);
    wrongTokenForm.append('csrf_token', 'not-the-session-token');
    const wrongToken = await post(wrongTokenForm);
    assert.equal(wrongToken.status(), 403, `POST /cabinet/settings with a wrong csrf_token: ${await wrongToken.text()}`);

    const unchanged = await api.get(pageUrl('/cabinet/api/settings'));
    assert.deepEqual((await unchanged.json()).data.settings, settings, 'a rejected post changed the settings');

    // The same form with the session's token is accepted, so the 403s came from the missing token alone.
    const me = await api.get(pageUrl('/cabinet/api/me'));
    const validForm = new URLSearchParams(form);
    validForm.append('csrf_token', (await me.json()).data.csrf_token);
    const accepted = await post(validForm);
    assert.equal(accepted.status(), 303, `POST /cabinet/settings with the CSRF token: ${await accepted.text()}`);
    const changed = await api.get(pageUrl('/cabinet/api/settings'));
    assert.equal((await changed.json()).data.settings.order_expiry_minutes,
                 Number(form.get('order_expiry_minutes')));
  });

  it('pages logged no console errors', () => {
    assertNoConsoleErrors();
  });

  it('daemon log contains no secrets', () => {
    const log = fs.readFileSync(run.daemonLogPath, 'utf8');
    assert.ok(log.includes('msg=listening'), `${run.daemonLogPath} lacks the daemon's start line`);

    const secrets = {
      'access token': run.accessToken,
      'signing secret': run.signingSecret,
      'initial password': run.password,
      'TOTP secret': run.totpSecretText,
    };
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(value, `no ${name} to look for: an earlier step failed`);
      assert.ok(!log.includes(value), `${run.daemonLogPath} contains the ${name}`);
    }
  });
});
