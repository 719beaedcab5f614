// @ts-check
// End-to-end harness: pcscd, the virtual TEST card on vpcd slot 1, the demo
// site, and Chromium (playwright-core) / Firefox ESR (puppeteer-core) with the
// unpacked extension and the native host manifest in a throwaway profile.
//
// Everything it starts is stopped by env.stop() (and, as a last resort, killed
// when the node process exits). Set E2E_KEEP=1 to keep the temporary directory
// (logs: host.log, card.log, demo.log, pcscd.log) after a run.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const HERE_EXT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const ROOT = path.dirname(HERE_EXT);
/** The unpacked extension (E2E_EXT_DIR: another copy, e.g. a build). */
export const EXT_DIR = process.env.E2E_EXT_DIR ? path.resolve(process.env.E2E_EXT_DIR) : HERE_EXT;
export const HOST_BIN = path.join(ROOT, 'out', 'cardbridge');
/** The virtual TEST card (development only, not shipped): ./cmd/cardbridge-softcard. */
export const SOFTCARD_BIN = path.join(ROOT, 'out', 'cardbridge-softcard');
export const EXT_ID = 'fnelgdaolebahileglgckdchfgcenipo';
export const GECKO_ID = 'cardbridge@cardbridge.tw';
export const HOST_NAME = 'tw.cardbridge.host';
/** vpcd slot 1: the Go integration tests use slot 0 at the same time. */
export const VPCD_ADDR = process.env.E2E_VPCD || '127.0.0.1:35964';
export const READER = process.env.E2E_READER || 'Virtual PCD 00 01';
export const PIN = '123456';
export const PUK = '12345678';
export const CHROMIUM = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
/**
 * Where the tests write their screenshots: out/ is not tracked, so a test
 * run leaves the working tree clean. `make screenshots` copies them into
 * docs/screenshots/ on purpose.
 */
export const SCREENSHOTS = path.join(ROOT, 'out', 'screenshots');
/** The TEST card's organisation, distinct from the Go tests' card in slot 0. */
export const CARD_ORG = '測試國民小學';
export const CARD_UBN = '12345676';
export const CARD_SERIAL = 'TESTE2E000000001';

const PCSCD = '/usr/sbin/pcscd';
const PCSCD_SOCK = '/run/pcscd/pcscd.comm';

/** Generous timeouts: a loaded 2-core machine. */
export const T = { short: 15_000, medium: 45_000, long: 120_000 };

// ---------------------------------------------------------------- utilities

/**
 * Polls fn until it returns a truthy value (or resolves to one).
 * @template V
 * @param {() => V | Promise<V>} fn
 * @param {{timeout?: number, interval?: number, what?: string}} [o]
 * @returns {Promise<NonNullable<V>>}
 */
export async function waitFor(fn, { timeout = T.medium, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return /** @type {NonNullable<V>} */ (v);
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}` + (lastErr ? `: ${lastErr}` : ''));
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** @param {string} msg */
function log(msg) {
  if (process.env.E2E_QUIET !== '1') process.stderr.write(`[e2e] ${msg}\n`);
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {}
  }
});

/**
 * Starts a tracked child process with its output in logFile (killed when
 * the node process exits, if still running).
 * @param {string} cmd @param {string[]} args
 * @param {{env?: NodeJS.ProcessEnv, logFile: string, cwd?: string}} o
 */
export function startProc(cmd, args, { env = process.env, logFile, cwd = ROOT }) {
  const fd = fs.openSync(logFile, 'a');
  const c = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(c);
  c.on('exit', () => children.delete(c));
  c.on('error', (e) => log(`${cmd}: ${e}`));
  return c;
}

/** Stops a child: SIGTERM, then SIGKILL after 5 s. @param {import('node:child_process').ChildProcess | null | undefined} c */
export async function stopProc(c) {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** @param {string} file @param {number} [n] */
export function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- build

/** Builds out/cardbridge (Go skips the write when it is up to date). */
export async function buildHost() {
  await fsp.mkdir(path.dirname(HOST_BIN), { recursive: true });
  await execFileP('go', ['build', '-o', HOST_BIN, './host'], { cwd: ROOT, timeout: 300_000 });
  return HOST_BIN;
}

/** Builds out/cardbridge-softcard, the virtual TEST card. */
export async function buildSoftcard() {
  await fsp.mkdir(path.dirname(SOFTCARD_BIN), { recursive: true });
  await execFileP('go', ['build', '-o', SOFTCARD_BIN, './cmd/cardbridge-softcard'], { cwd: ROOT, timeout: 300_000 });
  return SOFTCARD_BIN;
}

/** Builds the demo site into dir (or returns null when ./demo does not exist). @param {string} dir */
export async function buildDemo(dir) {
  if (!fs.existsSync(path.join(ROOT, 'demo'))) return null;
  const out = path.join(dir, 'demo-server');
  await execFileP('go', ['build', '-o', out, './demo'], { cwd: ROOT, timeout: 300_000 });
  return out;
}

/** Runs the cardbridge CLI. @param {string[]} args */
async function cli(...args) {
  const { stdout } = await execFileP(HOST_BIN, args, { timeout: 30_000, env: { ...process.env, CARDBRIDGE_CONFIG: '/nonexistent/cardbridge-e2e.json' } });
  return stdout;
}

/** Runs cardbridge-softcard (ca, issue). @param {string[]} args */
async function softcard(...args) {
  const { stdout } = await execFileP(SOFTCARD_BIN, args, { timeout: 30_000 });
  return stdout;
}

/** Whether PC/SC reports READER with (present) or without a card. @param {boolean} present */
export async function readerHasCard(present) {
  const out = JSON.parse(await cli('readers', '--json'));
  const r = (out.readers || []).find((/** @type {any} */ x) => x.name === READER);
  return !!r && !!r.card === present;
}

/**
 * Waits (best effort, up to `timeout`) until no reader but ours holds a card:
 * the Go integration tests put cards into slot 0 while these tests run, and
 * the popup's check looks at the first reader with a card.
 * @param {number} [timeout]
 */
export async function waitOnlyOurCard(timeout = T.long) {
  await waitFor(async () => {
    const out = JSON.parse(await cli('readers', '--json'));
    return (out.readers || []).every((/** @type {any} */ r) => r.name === READER || !r.card);
  }, { timeout, interval: 300, what: `no card in readers other than ${READER}` }).catch((e) => log(String(e)));
}

// ---------------------------------------------------------------- pcscd

/** @type {import('node:child_process').ChildProcess | null} */
let pcscdProc = null;

function pcscdRunning() {
  if (!fs.existsSync(PCSCD_SOCK)) return false;
  try {
    return fs.readdirSync('/proc').some((d) => /^\d+$/.test(d) && (() => {
      try {
        return fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'pcscd';
      } catch {
        return false;
      }
    })());
  } catch {
    return false;
  }
}

/** Starts pcscd unless one runs (the logic of scripts/pcscd.sh). @param {string} logFile */
export async function ensurePcscd(logFile) {
  if (pcscdRunning()) return false;
  if (!fs.existsSync(PCSCD)) throw new Error('pcscd is not installed (apt-get install pcscd vsmartcard-vpcd)');
  if (!fs.existsSync('/etc/reader.conf.d/vpcd')) throw new Error('vsmartcard-vpcd is not installed');
  for (const f of [PCSCD_SOCK, '/run/pcscd/pcscd.pid']) fs.rmSync(f, { force: true });
  log('starting pcscd');
  pcscdProc = startProc(PCSCD, ['--foreground', '--apdu'], { logFile });
  await waitFor(() => fs.existsSync(PCSCD_SOCK) || (pcscdProc?.exitCode !== null && Promise.reject(new Error('pcscd exited'))), { timeout: T.short, what: 'pcscd socket' });
  return true;
}

/** Stops the pcscd that ensurePcscd started, if any (env.stop() does this). */
export async function stopPcscd() {
  if (pcscdProc) {
    log('stopping the pcscd this run started');
    await stopProc(pcscdProc);
    pcscdProc = null;
  }
}

// ---------------------------------------------------------------- virtual card

export class SoftCard {
  /** @param {string} dir */
  constructor(dir) {
    this.dir = dir;
    this.ca = path.join(dir, 'testca.pem');
    this.state = path.join(dir, 'card.json');
    this.pristine = path.join(dir, 'card.pristine.json');
    this.controlFile = path.join(dir, 'card.control');
    this.logFile = path.join(dir, 'card.log');
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    this.addr = '';
  }

  /** Issues the TEST CA and card (PIN 123456). */
  async issue() {
    await softcard('ca', '--out', this.ca);
    await softcard('issue', '--state', this.pristine, '--ca', this.ca,
      '--org', CARD_ORG, '--ubn', CARD_UBN, '--serial', CARD_SERIAL);
    await fsp.copyFile(this.pristine, this.state);
  }

  /** Serves the card on vpcd slot 1 and waits until PC/SC sees it. */
  async start() {
    fs.rmSync(this.controlFile, { force: true });
    this.proc = startProc(SOFTCARD_BIN, ['serve', '--state', this.state, '--vpcd', VPCD_ADDR,
      '--control', '127.0.0.1:0', '--control-file', this.controlFile], { logFile: this.logFile });
    const proc = this.proc;
    this.addr = String(await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`cardbridge-softcard serve exited ${proc.exitCode}:\n${tail(this.logFile)}`);
      return fs.existsSync(this.controlFile) && fs.readFileSync(this.controlFile, 'utf8').trim();
    }, { timeout: T.short, what: 'the soft card control address' }));
    await this.waitPresent(true);
  }

  /** @param {boolean} present */
  async waitPresent(present) {
    await waitFor(() => readerHasCard(present), { timeout: T.medium, interval: 150, what: `${READER} ${present ? 'with' : 'without'} a card (is vpcd slot 1 free?)` });
  }

  async stop() {
    await stopProc(this.proc);
    this.proc = null;
  }

  /** A fresh card (PIN 123456, 3 tries) with the same keys and certificates. */
  async reset() {
    await this.stop();
    await this.waitPresent(false);
    await fsp.copyFile(this.pristine, this.state);
    await this.start();
  }

  /** @param {string} method @param {string} p */
  async ctl(method, p) {
    const r = await fetch(`http://${this.addr}${p}`, { method, signal: AbortSignal.timeout(T.medium) });
    if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  }

  /** @returns {Promise<{inserted: boolean, connected: boolean, apdus: number, pinTries: number, pukTries: number}>} */
  async status() {
    return this.ctl('GET', '/status');
  }

  async remove() {
    await this.ctl('POST', '/remove');
    await this.waitPresent(false);
  }

  async insert() {
    await this.ctl('POST', '/insert');
    await this.waitPresent(true);
  }

  /** Pulls the card when the next APDU with this INS arrives (87 = GENERAL AUTHENTICATE). */
  async removeOn(ins = '87') {
    return this.ctl('POST', `/remove-on?ins=${ins}`);
  }

  /** @param {string} ins @param {number} ms */
  async delayOn(ins, ms) {
    return this.ctl('POST', `/delay-on?ins=${ins}&ms=${ms}`);
  }
}

// ---------------------------------------------------------------- demo site

/**
 * @param {string} bin @param {string} dir @param {string} caPem
 * @param {Record<string, string>} [extraEnv]
 */
async function startDemo(bin, dir, caPem, extraEnv = {}) {
  const addrFile = path.join(dir, 'demo.addr');
  const logFile = path.join(dir, 'demo.log');
  fs.rmSync(addrFile, { force: true });
  const proc = startProc(bin, ['--addr', '127.0.0.1:0', '--addr-file', addrFile, '--ca', caPem,
    '--page-lib', path.join(EXT_DIR, 'page', 'cardbridge.js')], { logFile, env: { ...process.env, ...extraEnv } });
  const addr = String(await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`demo exited ${proc.exitCode}:\n${tail(logFile)}`);
    return fs.existsSync(addrFile) && fs.readFileSync(addrFile, 'utf8').trim();
  }, { timeout: T.medium, what: 'the demo address file' }));
  const url = /^https?:\/\//.test(addr) ? addr.replace(/\/$/, '') : `http://${addr}`;
  await waitFor(async () => (await fetch(url + '/', { signal: AbortSignal.timeout(5000) })).ok, { timeout: T.short, what: 'the demo page' });
  return { proc, url, logFile };
}

// ---------------------------------------------------------------- environment

/**
 * @typedef {object} Env
 * @property {string} tmp
 * @property {SoftCard} card
 * @property {string} config  CARDBRIDGE_CONFIG for the host
 * @property {string} hostLog
 * @property {string | null} demoUrl  null when ./demo does not exist yet
 * @property {string | null} demoWhy  why there is no demo
 * @property {(o?: {origin?: string}) => Promise<{url: string, stop: () => Promise<void>}>} startDemo  another demo server
 * @property {() => Promise<void>} stop
 * @property {(tag?: string) => string} logs
 */

/**
 * Builds the host and the TEST card, starts pcscd (if needed), the card and the demo site.
 * @param {{demo?: boolean}} [o]
 * @returns {Promise<Env>}
 */
export async function setup({ demo = true } = {}) {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'cardbridge-e2e-'));
  /** @type {Array<() => Promise<void>>} */
  const stops = [];
  const stop = async () => {
    for (const f of stops.reverse()) {
      try {
        await f();
      } catch (e) {
        log(`cleanup: ${e}`);
      }
    }
    stops.length = 0;
    await stopPcscd();
    if (process.env.E2E_KEEP === '1') log(`kept ${tmp}`);
    else await fsp.rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    log(`building ${path.relative(ROOT, HOST_BIN)} and ${path.relative(ROOT, SOFTCARD_BIN)}`);
    await buildHost();
    await buildSoftcard();
    await ensurePcscd(path.join(tmp, 'pcscd.log'));
    const card = new SoftCard(tmp);
    await card.issue();
    await card.start();
    stops.push(() => card.stop());
    const hostLog = path.join(tmp, 'host.log');
    const config = path.join(tmp, 'config.json');
    await fsp.writeFile(config, JSON.stringify({ logLevel: 'debug', logFile: hostLog }));

    /** @type {string | null} */
    let demoUrl = null;
    /** @type {string | null} */
    let demoWhy = null;
    /** @type {string | null} */
    let demoBin = null;
    if (demo) {
      demoBin = await buildDemo(tmp).catch((e) => {
        demoWhy = `go build ./demo failed: ${String(e.stderr || e).slice(0, 2000)}`;
        return null;
      });
      if (!demoBin && !demoWhy) demoWhy = 'the demo site (./demo) does not exist yet';
      if (demoBin) {
        const d = await startDemo(demoBin, tmp, card.ca);
        stops.push(() => stopProc(d.proc));
        demoUrl = d.url;
      }
    }
    let n = 0;
    const startAnotherDemo = async (/** @type {{origin?: string}} */ o = {}) => {
      if (!demoBin) throw new Error(demoWhy || 'no demo');
      const dir = path.join(tmp, `demo${++n}`);
      await fsp.mkdir(dir);
      const d = await startDemo(demoBin, dir, card.ca, o.origin ? { CARDBRIDGE_DEMO_ORIGIN: o.origin } : {});
      stops.push(() => stopProc(d.proc));
      return { url: d.url, stop: () => stopProc(d.proc) };
    };
    const logs = (tag = '') => [
      `--- ${tag} host.log`, tail(hostLog, 30),
      '--- card.log', tail(card.logFile, 15),
      '--- demo.log', tail(path.join(tmp, 'demo.log'), 15),
    ].join('\n');
    return { tmp, card, config, hostLog, demoUrl, demoWhy, startDemo: startAnotherDemo, stop, logs };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---------------------------------------------------------------- Chromium

/** @param {string} dir */
export async function writeChromiumHostManifest(dir) {
  const d = path.join(dir, 'NativeMessagingHosts');
  await fsp.mkdir(d, { recursive: true });
  await fsp.writeFile(path.join(d, `${HOST_NAME}.json`), JSON.stringify({
    name: HOST_NAME,
    description: 'CardBridge (e2e test)',
    path: HOST_BIN,
    type: 'stdio',
    allowed_origins: [`chrome-extension://${EXT_ID}/`],
  }, null, 2));
}

/**
 * Writes a system configuration for a development host
 * (CARDBRIDGE_SYSTEM_CONFIG, docs/protocol.md §6.1): rawSignOrigins,
 * decryptOrigins and the other administrator's keys. The host honours it
 * only when the current user owns it and nobody else may write it or its
 * folder: mode 0644 in dir (a mkdtemp folder, 0700).
 * @param {string} dir @param {Record<string, unknown>} config
 * @returns {Promise<string>} the file
 */
export async function writeSystemConfig(dir, config) {
  const file = path.join(dir, 'system-config.json');
  await fsp.writeFile(file, JSON.stringify(config, null, 2));
  await fsp.chmod(file, 0o644);
  return file;
}

/**
 * Launches Chromium with the extension and (unless hostManifest is false)
 * the host manifest in a fresh profile under parentDir. The host the
 * browser starts inherits its environment: CARDBRIDGE_CONFIG = config and,
 * when given, CARDBRIDGE_SYSTEM_CONFIG = systemConfig (writeSystemConfig),
 * and the variables of env (e.g. an exchange agency's XDG_DATA_HOME and
 * CUPS_SERVER, exchange-fixture.mjs).
 * @param {{parentDir: string, config?: string, systemConfig?: string, hostManifest?: boolean, lang?: string, name?: string, overlay?: boolean, env?: Record<string, string>}} o
 */
export async function launchChromium({ parentDir, config, systemConfig, hostManifest = true, lang = 'zh-TW', name = 'chromium-profile', overlay = true, env = {} }) {
  const { chromium } = await import('playwright-core');
  const userDataDir = path.join(parentDir, name);
  await fsp.mkdir(userDataDir, { recursive: true });
  if (hostManifest) await writeChromiumHostManifest(userDataDir);
  const envLang = lang.replace('-', '_');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [`--disable-extensions-except=${EXT_DIR}`, `--load-extension=${EXT_DIR}`, `--lang=${lang}`,
      // E2E_BROWSER_LOG=1 with DEBUG=pw:browser shows the extension's console on stderr.
      ...(process.env.E2E_BROWSER_LOG === '1' ? ['--enable-logging=stderr', '--v=0'] : [])],
    env: {
      ...process.env,
      LANGUAGE: envLang, LANG: `${envLang}.UTF-8`,
      ...(config ? { CARDBRIDGE_CONFIG: config } : {}),
      ...(systemConfig ? { CARDBRIDGE_SYSTEM_CONFIG: systemConfig } : {}),
      ...env,
    },
    locale: lang,
    viewport: { width: 1100, height: 820 },
    timeout: T.long,
  });
  context.setDefaultTimeout(T.medium);
  const isOurs = (/** @type {{url(): string}} */ w) => w.url().startsWith(`chrome-extension://${EXT_ID}/`);
  let sw = context.serviceWorkers().find(isOurs);
  if (!sw) {
    sw = await context.waitForEvent('serviceworker', { predicate: isOurs, timeout: T.medium }).catch(async (e) => {
      await context.close().catch(() => {});
      throw new Error(`the extension's service worker did not start (manifest or background error?): ${e.message}`);
    });
  }
  if (overlay) await sw.evaluate(() => chrome.storage.local.set({ overlayOnLocalhost: true }));
  return new ChromiumSession(context, sw);
}

/** @typedef {import('playwright-core').Page} Page */

export class ChromiumSession {
  /** @param {import('playwright-core').BrowserContext} context @param {import('playwright-core').Worker} sw */
  constructor(context, sw) {
    this.context = context;
    this.sw = sw;
    this.base = `chrome-extension://${EXT_ID}/`;
    /** @type {WeakSet<Page>} */
    this.seenPin = new WeakSet();
  }

  /** The service worker (a new one after a restart). */
  async worker() {
    const w = this.context.serviceWorkers().find((x) => x.url().startsWith(this.base));
    if (w) return w;
    return this.context.waitForEvent('serviceworker', { predicate: (x) => x.url().startsWith(this.base), timeout: T.medium });
  }

  async newPage() {
    return this.context.newPage();
  }

  /** Open PIN windows. */
  pinPages() {
    return this.context.pages().filter((p) => !p.isClosed() && p.url().startsWith(`${this.base}pin/pin.html`));
  }

  /**
   * Waits for a PIN window that was not returned before.
   * @param {{timeout?: number}} [o]
   */
  async waitPinWindow({ timeout = T.medium } = {}) {
    const p = await waitFor(() => this.pinPages().find((x) => !this.seenPin.has(x)), { timeout, what: 'the PIN window (pin/pin.html)' });
    this.seenPin.add(p);
    await p.waitForLoadState('domcontentloaded');
    // The window is 440 × 560, or 440 × 720 when it shows what is signed
    // (docs/extension.md §5; less the title bar); the context's viewport
    // would widen it.
    await p.locator('#app').waitFor({ state: 'visible', timeout: T.medium }).catch(() => {});
    const content = await p.evaluate(() => !document.getElementById('content')?.hidden && document.documentElement.dataset.mode === 'sign').catch(() => false);
    await p.setViewportSize({ width: 440, height: (content ? 720 : 560) - 30 }).catch(() => {});
    return p;
  }

  /** Marks all open PIN windows as seen (before an action that must open a new one). */
  markPinWindows() {
    for (const p of this.pinPages()) this.seenPin.add(p);
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}

// ---------------------------------------------------------------- PIN window (both browsers)
// pin/pin.html: #pin (PIN, or current PIN in change mode), #newPin and
// #confirmPin (change mode), #submit, #cancel, #tries, #message, #blocked,
// #consent with #allow / #deny. The locators work with playwright pages.

/**
 * Waits until the PIN window is armed (visible and focused for 750 ms:
 * pin.js sets data-armed on <html>); the PIN field is writable only then.
 * @param {any} page
 */
export async function waitWindowArmed(page) {
  await page.waitForFunction(() => document.documentElement.dataset.armed === 'true', null, { timeout: T.medium });
}

/** Types the PIN and presses Enter. @param {any} page @param {string} pin */
export async function submitPin(page, pin) {
  const f = page.locator('#pin');
  await f.waitFor({ state: 'visible', timeout: T.medium });
  await f.fill(pin);
  await waitArmed(page);
  await f.press('Enter');
}

/**
 * Waits until the window's 確定 button is enabled: the PIN window arms its
 * buttons 750 ms after it is visible and focused (against clickjacking).
 * @param {any} page
 */
async function waitArmed(page) {
  await page.waitForFunction(() => {
    const b = /** @type {HTMLButtonElement | null} */ (document.querySelector('#submit'));
    return !!b && !b.disabled;
  }, null, { timeout: T.medium });
}

/** Change mode: current, new, confirm; Enter. @param {any} page @param {string} oldPin @param {string} newPin */
export async function submitChangePin(page, oldPin, newPin) {
  await page.locator('#newPin').waitFor({ state: 'visible', timeout: T.medium });
  await page.locator('#pin').fill(oldPin);
  await page.locator('#newPin').fill(newPin);
  await page.locator('#confirmPin').fill(newPin);
  await waitArmed(page);
  await page.locator('#confirmPin').press('Enter');
}

/** Escape cancels. @param {any} page */
export async function cancelPin(page) {
  await page.locator('#app').waitFor({ state: 'visible', timeout: T.medium });
  await page.keyboard.press('Escape');
}

/** The consent buttons (允許 / 不允許). @param {any} page */
export function consentButtons(page) {
  return { allow: page.locator('#consent #allow'), deny: page.locator('#consent #deny') };
}

/** Resolves when the page closes (or is closed). @param {any} page @param {number} [timeout] */
export async function waitClosed(page, timeout = T.medium) {
  if (page.isClosed()) return;
  await page.waitForEvent('close', { timeout });
}

/** The visible text of a page. @param {any} page */
export async function bodyText(page) {
  return page.evaluate(() => document.body ? document.body.innerText : '');
}

// ---------------------------------------------------------------- overlay and popup (Chromium)

/**
 * Opens the overlay panel on a page: the badge lives in a closed shadow
 * root, so it is clicked by position. Resolves once the panel is open.
 * @param {Page} page
 */
export async function openOverlay(page) {
  const host = page.locator('cardbridge-overlay');
  await host.waitFor({ state: 'attached', timeout: T.medium });
  await page.waitForFunction(() => {
    const e = document.querySelector('cardbridge-overlay');
    return !!e && e.getAttribute('data-state') !== 'loading' && e.getBoundingClientRect().width > 0;
  }, null, { timeout: T.medium });
  const closed = await host.boundingBox();
  if (!closed) throw new Error('the overlay badge has no box');
  await page.mouse.click(closed.x + closed.width / 2, closed.y + closed.height / 2);
  await waitFor(async () => {
    const b = await host.boundingBox();
    return b && b.height > closed.height + 50;
  }, { what: 'the overlay panel to open' });
  await page.waitForFunction(() => document.querySelector('cardbridge-overlay')?.getAttribute('data-state') !== 'loading', null, { timeout: T.medium });
}

/**
 * The toolbar popup in a tab of the popup's size, after its check has
 * rendered; the passing items (folded by default) are unfolded.
 * @param {ChromiumSession} s
 */
export async function openPopup(s) {
  const p = await s.newPage();
  await p.setViewportSize({ width: 400, height: 600 });
  await p.goto(`chrome-extension://${EXT_ID}/popup/popup.html`);
  await p.locator('[data-overall]').waitFor({ timeout: T.long });
  await p.locator('#again:not([disabled])').waitFor({ timeout: T.long });
  const details = p.locator('details.others');
  if (await details.count()) await details.locator('summary').click();
  return p;
}

// ---------------------------------------------------------------- screenshots

/** @param {any} page @param {string} name @param {object} [o] */
export async function screenshot(page, name, o = {}) {
  await fsp.mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, name);
  await page.screenshot({ path: file, ...o });
  return file;
}

// ---------------------------------------------------------------- the demo page

/** @typedef {{result?: any, error?: {code: string, message: string, messageZh: string, details?: any}}} LibReply */

/**
 * Calls the page library (/cardbridge.js, the one the demo serves) in the page.
 * @param {import('playwright-core').Page} p @param {string} action @param {any} [args]
 * @returns {Promise<LibReply>}
 */
export function lib(p, action, args) {
  return p.evaluate(async ([action, args]) => {
    const lib = '/cardbridge.js'; // the demo serves the page library here
    const cb = await import(lib);
    try {
      return { result: await cb[action](args) };
    } catch (err) {
      const e = /** @type {any} */ (err);
      return { error: { code: e.code, message: e.message, messageZh: e.messageZh, details: e.details } };
    }
  }, /** @type {[string, any]} */ ([action, args]));
}

/** Waits until a demo result box leaves "busy"; returns its state and text. @param {import('playwright-core').Page} p @param {string} sel */
export async function resultOf(p, sel) {
  await p.waitForFunction((sel) => {
    const e = /** @type {HTMLElement | null} */ (document.querySelector(sel));
    return !!e && (e.dataset.state === 'ok' || e.dataset.state === 'error');
  }, sel, { timeout: T.long });
  return {
    state: await p.$eval(sel, (e) => /** @type {HTMLElement} */ (e).dataset.state),
    text: await p.innerText(sel),
    code: await p.$eval('#error', (e) => (/** @type {HTMLElement} */ (e).hidden ? '' : document.getElementById('error-code')?.textContent || '')),
  };
}

/** The demo page has finished its start-up calls and no button is busy. @param {import('playwright-core').Page} p */
export async function demoIdle(p) {
  await p.waitForFunction(() => document.body.dataset.ready === 'true' &&
    !(/** @type {HTMLButtonElement} */ (document.getElementById('sign-btn'))).disabled, null, { timeout: T.long });
}

