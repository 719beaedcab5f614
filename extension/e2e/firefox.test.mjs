// @ts-check
// End-to-end in Debian's firefox-esr (puppeteer-core, WebDriver BiDi): the
// core flows — status, consent, certificates, sign with the PIN typed in the
// PIN window — with the extension installed temporarily and the host
// manifest in $HOME/.mozilla/native-messaging-hosts of a throwaway $HOME.
//
// Firefox reports the URL of an extension's popup window as about:blank over
// BiDi; the PIN window is found by evaluating location.href in new pages.

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as h from './harness.mjs';

const { T, READER, CARD_ORG } = h;
const STEP = { timeout: 240_000 };

/** @type {h.Env} */
let env;
/** @type {import('puppeteer-core').Browser} */
let browser;
/** @type {import('puppeteer-core').Page} */
let page;
let skipWhy = '';
/** The demo site, http://127.0.0.1:PORT. */
let demoUrl = '';
/** PIN windows already handled. @type {WeakSet<import('puppeteer-core').Page>} */
const seen = new WeakSet();

/** @param {import('puppeteer-core').Page} p */
async function href(p) {
  try {
    return await p.evaluate(() => location.href);
  } catch {
    return '';
  }
}

/** Marks the open pages as seen, so that waitPinWindow finds only a new one. */
async function markPages() {
  for (const p of await browser.pages()) if (p !== page && /\/pin\/pin\.html/.test(await href(p))) seen.add(p);
}

/** A PIN window (moz-extension://…/pin/pin.html) not returned before, once its form or consent shows. */
async function waitPinWindow() {
  const w = await h.waitFor(async () => {
    for (const p of await browser.pages()) {
      if (p === page || seen.has(p)) continue;
      if (/^moz-extension:\/\/[^/]+\/pin\/pin\.html/.test(await href(p))) return p;
    }
    return null;
  }, { timeout: T.medium, interval: 200, what: 'the PIN window (moz-extension://…/pin/pin.html)' });
  seen.add(w);
  await w.waitForSelector('#app:not([hidden])', { timeout: T.medium });
  return w;
}

/**
 * Puppeteer keeps listing a closed extension window (BiDi sends no event for
 * it); it is closed when its browsing context is gone.
 * @param {import('puppeteer-core').Page} w
 */
async function isClosed(w) {
  if (w.isClosed() || !(await browser.pages()).includes(w)) return true;
  try {
    await w.evaluate(() => 1);
    return false;
  } catch (e) {
    return /no such frame|not found|closed|detached/i.test(String(e));
  }
}

/** @param {import('puppeteer-core').Page} w */
async function waitClosed(w) {
  await h.waitFor(() => isClosed(w), { timeout: T.medium, what: 'the PIN window to close' });
}

/** @param {import('puppeteer-core').Page} p */
const text = (p) => p.evaluate(() => document.body.innerText);

/** @param {import('puppeteer-core').Page} p @param {string} sel */
async function resultOf(p, sel) {
  await p.waitForFunction((sel) => {
    const e = /** @type {HTMLElement | null} */ (document.querySelector(sel));
    return !!e && (e.dataset.state === 'ok' || e.dataset.state === 'error');
  }, { timeout: T.long }, sel);
  return p.$eval(sel, (e) => ({
    state: /** @type {HTMLElement} */ (e).dataset.state,
    text: /** @type {HTMLElement} */ (e).innerText,
    code: /** @type {HTMLElement} */ (document.getElementById('error')).hidden ? '' : document.getElementById('error-code')?.textContent || '',
  }));
}

/** @param {import('puppeteer-core').Page} p @param {string} action @param {any} [args] */
function lib(p, action, args) {
  return p.evaluate(async (action, args) => {
    const lib = '/cardbridge.js'; // the demo serves the page library here
    const cb = await import(lib);
    try {
      return { result: await cb[action](args) };
    } catch (err) {
      const e = /** @type {any} */ (err);
      return { error: { code: e.code, message: e.message, messageZh: e.messageZh } };
    }
  }, action, args);
}

/** @param {import('node:test').TestContext} t */
function needEnv(t) {
  if (skipWhy) {
    console.error(`firefox e2e skipped: ${skipWhy}`);
    t.skip(skipWhy);
    return false;
  }
  return true;
}

describe('CardBridge in Firefox ESR', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    if (!fs.existsSync(h.FIREFOX)) skipWhy = `firefox-esr is not installed (${h.FIREFOX}); apt-get install firefox-esr`;
    else if (!fs.existsSync(path.join(h.EXT_DIR, 'manifest.json'))) skipWhy = `the extension manifest is missing: ${h.EXT_DIR}/manifest.json`;
    if (skipWhy) return;
    /** @type {typeof import('puppeteer-core')} */
    let puppeteer;
    try {
      puppeteer = (await import('puppeteer-core')).default;
    } catch (e) {
      skipWhy = `puppeteer-core is not installed (npm ci in extension/): ${e}`;
      return;
    }
    env = await h.setup();
    if (!env.demoUrl) {
      skipWhy = env.demoWhy || 'no demo site';
      return;
    }
    demoUrl = env.demoUrl;
    const home = path.join(env.tmp, 'firefox-home');
    const nm = path.join(home, '.mozilla', 'native-messaging-hosts');
    await fsp.mkdir(nm, { recursive: true });
    await fsp.writeFile(path.join(nm, `${h.HOST_NAME}.json`), JSON.stringify({
      name: h.HOST_NAME,
      description: 'CardBridge (e2e test)',
      path: h.HOST_BIN,
      type: 'stdio',
      allowed_extensions: [h.GECKO_ID],
    }, null, 2));
    try {
      browser = await puppeteer.launch({
        browser: 'firefox',
        executablePath: h.FIREFOX,
        headless: true,
        env: { ...process.env, HOME: home, CARDBRIDGE_CONFIG: env.config, LANGUAGE: 'zh_TW', LANG: 'zh_TW.UTF-8' },
        extraPrefsFirefox: { 'intl.locale.requested': 'zh-TW', 'intl.accept_languages': 'zh-TW, zh, en' },
        protocolTimeout: T.long,
        timeout: T.long,
      });
    } catch (e) {
      skipWhy = `firefox-esr did not start under puppeteer-core (WebDriver BiDi): ${e instanceof Error ? e.message : e}`;
      return;
    }
    try {
      const id = await browser.installExtension(h.EXT_DIR);
      assert.equal(id, h.GECKO_ID);
    } catch (e) {
      skipWhy = `browser.installExtension(${h.EXT_DIR}) failed (WebDriver BiDi webExtension.install): ${e instanceof Error ? e.message : e}`;
      return;
    }
    page = await browser.newPage();
    page.setDefaultTimeout(T.medium);
  }, { timeout: 300_000 });

  after(async () => {
    if (env && process.env.E2E_LOGS === '1') console.error(env.logs('firefox'));
    await browser?.close().catch(() => {});
    await env?.stop();
  }, { timeout: 120_000 });

  test('status: the demo page sees the extension, the host and the card', STEP, async (t) => {
    if (!needEnv(t)) return;
    await markPages();
    await page.goto(demoUrl + '/');
    const res = await resultOf(page, '#status');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}\n${env.logs('firefox')}`);
    assert.match(res.text, /CardBridge 已就緒/);
    const r = await lib(page, 'status');
    assert.ok(r.result, JSON.stringify(r.error));
    assert.equal(r.result.host.protocol, 1);
    assert.equal(r.result.readers, undefined, 'readers (and whether a card is in) only after consent');
  });

  test('consent, then the certificates on the demo page', STEP, async (t) => {
    if (!needEnv(t)) return;
    const w = await waitPinWindow();
    const body = await text(w);
    assert.ok(body.includes(new URL(demoUrl).origin), body);
    // The buttons arm 750 ms after the window is visible and focused (clickjacking).
    await w.waitForSelector('#consent:not([hidden]) #allow:not([disabled])');
    await w.click('#allow');
    await waitClosed(w);
    const res = await resultOf(page, '#certs');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.ok(res.text.includes(CARD_ORG), res.text);
    // Allowed now (remembered in the extension's IndexedDB): the page shows the card.
    await page.waitForFunction(() => /已插入卡片/.test(document.getElementById('status')?.innerText ?? ''), { timeout: T.long });
    const r = await lib(page, 'getCertificates');
    assert.ok(r.result.certificates.some((/** @type {any} */ c) => c.reader === READER && c.info.usage === 'signature'));
  });

  test('sign with the PIN typed in the PIN window; the server verifies it', STEP, async (t) => {
    if (!needEnv(t)) return;
    await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: T.long });
    await markPages();
    await page.click('#sign-btn');
    const w = await waitPinWindow();
    const body = await text(w);
    assert.match(body, /簽署文件|Sign/);
    assert.ok(body.includes(CARD_ORG), body);
    await w.waitForSelector('#pin');
    // Keys before the window is armed are dropped (type-ahead guard): type once it is.
    await w.waitForFunction(() => document.documentElement.dataset.armed === 'true', { timeout: T.medium });
    assert.match(await w.$eval('#virtual', (e) => /** @type {HTMLElement} */ (e).innerText), /虛擬測試卡/);
    await w.type('#pin', h.PIN);
    await w.waitForSelector('#submit:not([disabled])');
    await w.keyboard.press('Enter');
    await waitClosed(w);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.match(res.text, /簽章驗證成功/);
  });
});
