// @ts-check
// End-to-end in Debian's firefox-esr (puppeteer-core, WebDriver BiDi): the
// core flows — status, consent, certificates, sign with the PIN typed in the
// PIN window — with the extension installed temporarily and the host
// manifest in $HOME/.mozilla/native-messaging-hosts of a throwaway $HOME
// (firefox-harness.mjs).

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import { FirefoxSession, firefoxMissing, launchFirefox } from './firefox-harness.mjs';

const { T, READER, CARD_ORG } = h;
const STEP = { timeout: 240_000 };

/** @type {h.Env} */
let env;
/** @type {FirefoxSession} */
let ff;
/** @type {import('puppeteer-core').Page} */
let page;
let skipWhy = '';
/** The demo site, http://127.0.0.1:PORT. */
let demoUrl = '';

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
    skipWhy = firefoxMissing();
    if (skipWhy) return;
    env = await h.setup();
    if (!env.demoUrl) {
      skipWhy = env.demoWhy || 'no demo site';
      return;
    }
    demoUrl = env.demoUrl;
    try {
      ff = await launchFirefox({ dir: env.tmp, config: env.config });
    } catch (e) {
      skipWhy = `firefox-esr did not start under puppeteer-core (WebDriver BiDi): ${e instanceof Error ? e.message : e}`;
      return;
    }
    page = ff.page;
  }, { timeout: 300_000 });

  after(async () => {
    if (env && process.env.E2E_LOGS === '1') console.error(env.logs('firefox'));
    await ff?.close();
    await env?.stop();
  }, { timeout: 120_000 });

  test('status: the demo page sees the extension, the host and the card', STEP, async (t) => {
    if (!needEnv(t)) return;
    await ff.markPages();
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
    const w = await ff.waitPinWindow();
    const body = await text(w);
    assert.ok(body.includes(new URL(demoUrl).origin), body);
    // The buttons arm 750 ms after the window is visible and focused (clickjacking).
    await w.waitForSelector('#consent:not([hidden]) #allow:not([disabled])');
    await w.click('#allow');
    await ff.waitClosed(w);
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
    await ff.markPages();
    await page.click('#sign-btn');
    const w = await ff.waitPinWindow();
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
    await ff.waitClosed(w);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.match(res.text, /簽章驗證成功/);
  });
});
