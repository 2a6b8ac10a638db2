// Shared harness of the browser tests: locates the build, runs citypayctl,
// starts and stops citypayd on 127.0.0.1, sends HTTP requests from Node and
// launches Chromium through playwright-core.
//
// Environment:
//   CITYPAY_BUILD_DIR       directory with citypayd and citypayctl (default: ../../build)
//   CITYPAY_TEST_ARTIFACTS  where screenshots and daemon logs go
//                           (default: <build dir>/test-artifacts/browser)
//   CITYPAY_CHROMIUM        Chromium binary (default: /usr/bin/chromium)

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = path.resolve(process.env.CITYPAY_BUILD_DIR || path.join(HERE, '..', '..', 'build'));
export const CITYPAYD = path.join(BUILD_DIR, 'citypayd');
export const CITYPAYCTL = path.join(BUILD_DIR, 'citypayctl');
export const ARTIFACTS_DIR = path.resolve(process.env.CITYPAY_TEST_ARTIFACTS ||
                                          path.join(BUILD_DIR, 'test-artifacts', 'browser'));
export const CHROMIUM = process.env.CITYPAY_CHROMIUM || '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach
// Google's hosts, which a machine without outside network refuses.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const LOOPBACK = '127.0.0.1';
const CLI_TIMEOUT_MS = 30_000;
const DAEMON_START_TIMEOUT_MS = 15_000;
export const DAEMON_STOP_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 15_000;
const BROWSER_LAUNCH_TIMEOUT_MS = 30_000;
const ACTION_TIMEOUT_MS = 15_000;
export const NAVIGATION_TIMEOUT_MS = 20_000;
export const BROWSER_CLOSE_TIMEOUT_MS = 15_000;

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Settle like promise, or reject when it takes longer than ms.
export async function withTimeout(promise, ms, description) {
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
// Set-up checks and the artifacts directory

// Check that citypayd, citypayctl and Chromium exist, create ARTIFACTS_DIR and
// delete the PNG files in it whose names start with failedPrefix.
export function prepareArtifactsDir(failedPrefix) {
  for (const binary of [CITYPAYD, CITYPAYCTL]) {
    assert.ok(fs.existsSync(binary), `${binary} not found: build the project or set CITYPAY_BUILD_DIR`);
  }
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium`);
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  // Screenshots of failures in an earlier run would be mistaken for this run's.
  for (const name of fs.readdirSync(ARTIFACTS_DIR)) {
    if (name.startsWith(failedPrefix) && name.endsWith('.png')) {
      fs.rmSync(path.join(ARTIFACTS_DIR, name));
    }
  }
}

// ---------------------------------------------------------------------------
// citypayctl and citypayd

// Run `citypayctl --db DB --json ARGS...` and return its JSON output.
export function runCli(dbPath, ...args) {
  const argv = ['--db', dbPath, '--json', ...args.map(String)];
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

// Start citypayd on an ephemeral port of 127.0.0.1 with the database at dbPath,
// copying its stderr to logPath. envOverlay adds to or replaces variables of
// process.env. Resolves with {child, port} once the msg=listening line appears.
export function startDaemon(dbPath, logPath, envOverlay = {}) {
  const child = spawn(CITYPAYD, ['--db', dbPath, '--listen', `${LOOPBACK}:0`], {
    env: { ...process.env, ...envOverlay },
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
export function waitForExit(child, ms) {
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
export async function stopDaemon(child) {
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
export async function request(url, { method = 'GET', form = null, headers = {} } = {}) {
  const target = new URL(url);
  assert.equal(target.hostname, LOOPBACK, `the test sends requests to ${LOOPBACK} only, not to ${url}`);

  const init = { method, headers: { ...headers }, redirect: 'manual', signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) };
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
  return { status: response.status, headers: response.headers, text, body };
}

// Poll GET /healthz of the daemon at baseUrl until it returns 200.
export async function waitForHealthz(baseUrl) {
  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
  let last = 'no response';

  while (Date.now() < deadline) {
    try {
      const response = await request(`${baseUrl}/healthz`);
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

// ---------------------------------------------------------------------------
// Chromium

// Launch Chromium and open one page in a new context with the given viewport.
// The context aborts every request to a host other than 127.0.0.1 and appends
// its URL to blockedRequests. Console errors, CSP violations and uncaught page
// errors are appended to consoleErrors, each as {text, url}.
// Resolves with {browser, context, page}.
export async function launchBrowser({ viewport, consoleErrors, blockedRequests }) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: BROWSER_LAUNCH_TIMEOUT_MS,
  });
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === LOOPBACK) {
      return route.continue();
    }
    blockedRequests.push(url.href);
    return route.abort('blockedbyclient');
  });
  // Report CSP violations through the console as well, with the blocked URI.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') {
      consoleErrors.push({ text: message.text(), url: message.location().url || page.url() });
    }
  });
  page.on('pageerror', (error) => {
    consoleErrors.push({ text: `uncaught ${error.name}: ${error.message}`, url: page.url() });
  });
  return { browser, context, page };
}

// Save a full-page screenshot as ARTIFACTS_DIR/name and return its path.
export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---------------------------------------------------------------------------
// Clean-up

// Close Chromium, stop the daemon and delete tempDir, skipping any of them that is null.
export async function shutDown({ browser, daemon, tempDir }) {
  try {
    if (browser) {
      await withTimeout(browser.close(), BROWSER_CLOSE_TIMEOUT_MS, 'closing Chromium');
    }
  } finally {
    if (daemon) {
      await stopDaemon(daemon);
    }
    if (tempDir) {
      fs.rmSync(tempDir, { recursive: true, force: true });
    }
  }
}

// Timeout of an after() hook that calls shutDown(), with room for SIGKILL.
export const SHUT_DOWN_TIMEOUT_MS = BROWSER_CLOSE_TIMEOUT_MS + DAEMON_STOP_TIMEOUT_MS + 10_000;
