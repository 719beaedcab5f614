// @ts-check
// Firefox ESR under puppeteer-core (WebDriver BiDi) for the e2e tests: the
// browser with the extension installed temporarily, the host manifest in
// $HOME/.mozilla/native-messaging-hosts of a throwaway $HOME, and the PIN
// window found among the pages.
//
// Firefox reports the URL of an extension's popup window as about:blank over
// BiDi; the PIN window is found by evaluating location.href in new pages.
// The extension's moz-extension:// UUID is fixed by the preference
// extensions.webextensions.uuids, so that tests can open its own pages.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import * as h from './harness.mjs';

const { T } = h;

/** The extension's internal UUID in the test profile. */
export const FIREFOX_UUID = '6f0d5b8e-2c3a-4c1e-9a57-3c6a1b2d4e5f';
/** The extension's base URL in Firefox. */
export const FIREFOX_BASE = `moz-extension://${FIREFOX_UUID}/`;

/** Why Firefox cannot run here, or "". */
export function firefoxMissing() {
  if (!fs.existsSync(h.FIREFOX)) return `firefox-esr is not installed (${h.FIREFOX}); apt-get install firefox-esr`;
  if (!fs.existsSync(path.join(h.EXT_DIR, 'manifest.json'))) return `the extension manifest is missing: ${h.EXT_DIR}/manifest.json`;
  return '';
}

/**
 * Starts Firefox with the extension and the host registered for a
 * throwaway HOME under dir; env is added to the browser's (and so the
 * host's) environment. Throws with the reason when Firefox or the BiDi
 * extension install does not work here.
 * @param {{dir: string, config: string, env?: Record<string, string>}} o
 */
export async function launchFirefox({ dir, config, env = {} }) {
  /** @type {typeof import('puppeteer-core')} */
  const puppeteer = (await import('puppeteer-core')).default;
  const home = path.join(dir, 'firefox-home');
  const nm = path.join(home, '.mozilla', 'native-messaging-hosts');
  await fsp.mkdir(nm, { recursive: true });
  await fsp.writeFile(path.join(nm, `${h.HOST_NAME}.json`), JSON.stringify({
    name: h.HOST_NAME,
    description: 'CardBridge (e2e test)',
    path: h.HOST_BIN,
    type: 'stdio',
    allowed_extensions: [h.GECKO_ID],
  }, null, 2));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: h.FIREFOX,
    headless: true,
    env: { ...process.env, HOME: home, CARDBRIDGE_CONFIG: config, LANGUAGE: 'zh_TW', LANG: 'zh_TW.UTF-8', ...env },
    extraPrefsFirefox: {
      'intl.locale.requested': 'zh-TW',
      'intl.accept_languages': 'zh-TW, zh, en',
      'extensions.webextensions.uuids': JSON.stringify({ [h.GECKO_ID]: FIREFOX_UUID }),
    },
    protocolTimeout: T.long,
    timeout: T.long,
  });
  try {
    const id = await browser.installExtension(h.EXT_DIR);
    if (id !== h.GECKO_ID) throw new Error(`installed as ${id}, not ${h.GECKO_ID}`);
  } catch (e) {
    await browser.close().catch(() => {});
    throw new Error(`browser.installExtension(${h.EXT_DIR}) failed (WebDriver BiDi webExtension.install): ${e instanceof Error ? e.message : e}`);
  }
  const page = await browser.newPage();
  page.setDefaultTimeout(T.medium);
  return new FirefoxSession(browser, page);
}

export class FirefoxSession {
  /** @param {import('puppeteer-core').Browser} browser @param {import('puppeteer-core').Page} page */
  constructor(browser, page) {
    this.browser = browser;
    /** The test's own page (never a PIN window). */
    this.page = page;
    /** PIN windows already handled. @type {WeakSet<import('puppeteer-core').Page>} */
    this.seen = new WeakSet();
  }

  /** @param {import('puppeteer-core').Page} p */
  async href(p) {
    try {
      return await p.evaluate(() => location.href);
    } catch {
      return '';
    }
  }

  /** Marks the open PIN windows as seen, so that waitPinWindow finds only a new one. */
  async markPages() {
    for (const p of await this.browser.pages()) if (p !== this.page && /\/pin\/pin\.html/.test(await this.href(p))) this.seen.add(p);
  }

  /** A PIN window (moz-extension://…/pin/pin.html) not returned before, once its form or consent shows. */
  async waitPinWindow() {
    const w = await h.waitFor(async () => {
      for (const p of await this.browser.pages()) {
        if (p === this.page || this.seen.has(p)) continue;
        if (/^moz-extension:\/\/[^/]+\/pin\/pin\.html/.test(await this.href(p))) return p;
      }
      return null;
    }, { timeout: T.medium, interval: 200, what: 'the PIN window (moz-extension://…/pin/pin.html)' });
    this.seen.add(w);
    await w.waitForSelector('#app:not([hidden])', { timeout: T.medium });
    return w;
  }

  /**
   * Puppeteer keeps listing a closed extension window (BiDi sends no event
   * for it); it is closed when its browsing context is gone.
   * @param {import('puppeteer-core').Page} w
   */
  async isClosed(w) {
    if (w.isClosed() || !(await this.browser.pages()).includes(w)) return true;
    try {
      await w.evaluate(() => 1);
      return false;
    } catch (e) {
      return /no such frame|not found|closed|detached/i.test(String(e));
    }
  }

  /** @param {import('puppeteer-core').Page} w */
  async waitClosed(w) {
    await h.waitFor(() => this.isClosed(w), { timeout: T.medium, what: 'the PIN window to close' });
  }

  /**
   * Types the PIN once the window is armed (keys before are dropped: the
   * type-ahead guard) and presses Enter.
   * @param {import('puppeteer-core').Page} w @param {string} pin
   */
  async submitPin(w, pin) {
    await w.waitForSelector('#pin');
    await w.waitForFunction(() => document.documentElement.dataset.armed === 'true', { timeout: T.medium });
    await w.type('#pin', pin);
    await w.waitForSelector('#submit:not([disabled])');
    await w.keyboard.press('Enter');
  }

  /**
   * Opens one of the extension's own pages (path under the extension) in a
   * tab and returns it. WebDriver BiDi may not navigate to moz-extension://
   * URLs, and web pages may not open them; so a loopback page asks for the
   * certificates, and the consent window that opens (an extension page)
   * opens the tab with the tabs API, then refuses the loopback site.
   * @param {string} pagePath e.g. "exchange/exchange.html"
   */
  async openExtensionPage(pagePath) {
    const lib = await fsp.readFile(path.join(h.EXT_DIR, 'page', 'cardbridge.js'));
    const server = http.createServer((req, res) => {
      if (req.url === '/cardbridge.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(lib);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>opener</title><script type="module">import * as cb from "/cardbridge.js"; window.cb = cb;</script>');
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
    try {
      const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
      await this.page.goto(`http://127.0.0.1:${addr.port}/`);
      await this.page.waitForFunction(() => 'cb' in window, { timeout: T.medium });
      await this.markPages();
      await this.page.evaluate(() => { /** @type {any} */ (window).cb.getCertificates().catch(() => {}); });
      const w = await this.waitPinWindow();
      await w.evaluate((p) => /** @type {any} */ (globalThis).browser.tabs.create({ url: /** @type {any} */ (globalThis).browser.runtime.getURL(p) }), pagePath);
      const want = `${FIREFOX_BASE}${pagePath}`;
      const tab = await h.waitFor(async () => {
        for (const p of await this.browser.pages()) if ((await this.href(p)).startsWith(want)) return p;
        return null;
      }, { timeout: T.medium, what: want });
      await w.waitForSelector('#consent:not([hidden]) #deny:not([disabled])', { timeout: T.medium });
      await w.click('#deny');
      await this.waitClosed(w);
      tab.setDefaultTimeout(T.medium);
      return tab;
    } finally {
      server.close();
    }
  }

  async close() {
    await this.browser.close().catch(() => {});
  }
}
