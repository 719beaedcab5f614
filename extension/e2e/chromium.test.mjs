// @ts-check
// End-to-end: Debian's chromium (playwright-core) + the unpacked extension +
// out/cardbridge + the virtual TEST card (vpcd slot 1) + the demo site.
//
//   cd extension && node --test --test-concurrency=1 e2e/
//
// The tests run in order and share one browser: consent given in one is
// remembered by the next, as for a clerk.

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as h from './harness.mjs';
const { lib, resultOf, demoIdle } = h;

const { T, READER, CARD_ORG, CARD_UBN } = h;
const STEP = { timeout: 240_000 };

/** @type {h.Env} */
let env;
/** @type {h.ChromiumSession} */
let s;
/** @type {import('playwright-core').Page} the demo page at http://127.0.0.1:PORT */
let page;
/** The demo site, http://127.0.0.1:PORT. */
let demoUrl = '';
/** The same server as http://localhost:PORT: another origin, the one the system configuration lists for raw signatures. */
let rawUrl = '';
/** The card's current PIN (changed by the change-PIN test). */
let pin = h.PIN;
let skipWhy = '';

/** Our card's signature certificate (not another reader's). @param {import('playwright-core').Page} p */
async function ourSigningCert(p) {
  const r = await lib(p, 'getCertificates');
  assert.ok(r.result, `getCertificates: ${JSON.stringify(r.error)}`);
  const c = r.result.certificates.find((/** @type {any} */ c) => c.reader === READER && String(c.info.usage).startsWith('signature'));
  assert.ok(c, `no signature certificate in ${READER}: ${JSON.stringify(r.result.certificates.map((/** @type {any} */ c) => [c.reader, c.info.usage]))}`);
  return c;
}

/**
 * Refreshes the demo page's certificate list once no other reader holds a
 * card, so that the page signs with the card in slot 1 even when the Go
 * integration tests use slot 0 at the same time.
 * @param {import('playwright-core').Page} p
 */
async function refreshDemo(p) {
  await h.waitFor(async () => {
    const r = await lib(p, 'getCertificates');
    return r.result && r.result.certificates.length > 0 && r.result.certificates.every((/** @type {any} */ c) => c.reader === READER);
  }, { timeout: T.long, interval: 500, what: `certificates only from ${READER}` });
  await p.click('#refresh-btn');
  await demoIdle(p);
  assert.equal(await p.$eval('#certs', (e) => /** @type {HTMLElement} */ (e).dataset.state), 'ok');
}

/** Clicks a demo button and returns the PIN window it opens. @param {string} btn */
async function clickForPin(btn) {
  s.markPinWindows();
  await page.click(btn);
  return s.waitPinWindow();
}

/** @param {import('playwright-core').Page} w */
async function pinWindowText(w) {
  await w.locator('#app').waitFor({ state: 'visible' });
  return h.bodyText(w);
}

/** Set when the extension does not answer at all: the tests after it would only time out. */
let fatal = '';
/** Set while a test runs; still set when the next starts if it failed. */
let dirty = false;

/**
 * After a failed test: close PIN windows (the page gets ERR_USER_CANCELLED),
 * a fresh card (PIN 123456), the demo page reloaded; so that one failure
 * does not fail every test after it.
 */
async function recover() {
  for (const w of s.pinPages()) await w.close().catch(() => {});
  await env.card.reset();
  pin = h.PIN;
  await page.reload().catch(() => {});
  for (const w of s.pinPages()) await w.close().catch(() => {});
  await demoIdle(page).catch(() => {});
}

/**
 * A test that needs the environment; skipped with the reason when it is
 * missing.
 * @param {string} name @param {(t: import('node:test').TestContext) => Promise<void>} fn
 */
function step(name, fn) {
  test(name, STEP, async (t) => {
    if (skipWhy) {
      t.skip(skipWhy);
      return;
    }
    if (fatal) {
      t.skip(`not run: ${fatal}`);
      return;
    }
    if (dirty) await recover();
    dirty = true;
    await fn(t);
    dirty = false;
  });
}

describe('CardBridge in Chromium', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    for (const [what, p] of [['the extension manifest', path.join(h.EXT_DIR, 'manifest.json')], ['the page library', path.join(h.EXT_DIR, 'page', 'cardbridge.js')]]) {
      if (!fs.existsSync(p)) skipWhy ||= `${what} is missing: ${p}`;
    }
    if (!fs.existsSync(h.CHROMIUM)) skipWhy ||= `chromium is not installed (${h.CHROMIUM}); apt-get install chromium`;
    if (skipWhy) return;
    env = await h.setup();
    if (!env.demoUrl) {
      skipWhy = env.demoWhy || 'no demo site';
      return;
    }
    demoUrl = env.demoUrl;
    rawUrl = demoUrl.replace('127.0.0.1', 'localhost');
    // Raw signatures only for http://localhost:PORT: the demo at 127.0.0.1 signs CMS, as a web page should.
    const systemConfig = await h.writeSystemConfig(env.tmp, { rawSignOrigins: [new URL(rawUrl).origin], decryptOrigins: [new URL(rawUrl).origin] });
    s = await h.launchChromium({ parentDir: env.tmp, config: env.config, systemConfig });
    page = await s.newPage();
  }, { timeout: 300_000 });

  after(async () => {
    if (env && process.env.E2E_LOGS === '1') console.error(env.logs('chromium'));
    await s?.close();
    await env?.stop();
  }, { timeout: 120_000 });

  step('status: the demo page sees the extension, the host and the card', async (t) => {
    await page.goto(demoUrl + '/');
    const st = await resultOf(page, '#status');
    if (st.state !== 'ok') {
      fatal = `the demo page's status failed (${st.code}); see the first test`;
      assert.fail(`status: ${st.code}\n${st.text}\n${env.logs('chromium')}`);
    }
    const text = await page.innerText('#status');
    assert.match(text, /CardBridge 已就緒/);
    // The library itself (status needs no consent, so it answers while the consent window is open;
    // before consent it tells only that the extension and the host are there, not whether a card is in).
    const r = await lib(page, 'status');
    assert.ok(r.result, JSON.stringify(r.error));
    assert.equal(r.result.extension, '0.1.0');
    assert.equal(r.result.host.protocol, 1);
    assert.equal(r.result.readers, undefined, `no readers before consent: ${JSON.stringify(r.result)}`);
  });

  step('checkEnvironment without consent: only the service, reader and card verdicts (no pin, validity, issuer)', async (t) => {
    const r = await lib(page, 'checkEnvironment');
    assert.ok(r.result, JSON.stringify(r.error));
    assert.deepEqual(r.result.items.map((/** @type {any} */ i) => i.id), ['service', 'readers', 'card']);
    for (const i of r.result.items) assert.deepEqual(Object.keys(i).filter((k) => !['id', 'title', 'result', 'fix'].includes(k)), [], `${i.id}: no detail`);
    assert.equal(r.result.items[0].result, 'pass', JSON.stringify(r.result.items[0]));
    for (const k of ['reader', 'atr', 'certificates', 'pinTriesLeft']) assert.equal(r.result[k], undefined, k);
    assert.match(r.result.overall, /^(pass|warn|fail)$/);
  });

  step('first use: the consent window asks once; allowed, the site is remembered', async (t) => {
    // The page asked for the certificates on load: the consent window is open.
    const w = await s.waitPinWindow();
    const text = await pinWindowText(w);
    assert.ok(text.includes(new URL(demoUrl).origin), `the window shows the origin: ${text}`);
    assert.match(text, /允許這個網站使用您的憑證 IC 卡嗎？/);
    // The e2e card is in vpcd's reader: a virtual TEST card, and the window says so.
    assert.ok(await w.locator('#virtual').isVisible(), 'the 虛擬測試卡 banner');
    assert.match(await w.innerText('#virtual'), /虛擬測試卡/);
    await h.waitWindowArmed(w);
    await h.screenshot(w, 'consent.png');
    await h.consentButtons(w).allow.click();
    await h.waitClosed(w);
    await demoIdle(page);
    assert.equal(await page.$eval('#certs', (e) => /** @type {HTMLElement} */ (e).dataset.state), 'ok');
    // A second listing, and a reload, ask nothing.
    const r = await lib(page, 'getCertificates');
    assert.ok(r.result, JSON.stringify(r.error));
    await page.reload();
    await demoIdle(page);
    assert.equal(s.pinPages().length, 0, 'no second consent window');
    // Allowed now: the readers and the card, and the whole check.
    assert.match(await page.innerText('#status'), /已插入卡片/);
    const st = await lib(page, 'status');
    assert.ok(st.result.readers.some((/** @type {any} */ x) => x.name === READER && x.card), JSON.stringify(st.result));
    const check = await lib(page, 'checkEnvironment');
    assert.equal(check.result.items.length, 10, JSON.stringify(check.result.items?.map((/** @type {any} */ i) => i.id)));
  });

  step('certificates: the demo page lists the card\'s certificates', async (t) => {
    await refreshDemo(page);
    const text = await page.innerText('#certs');
    assert.ok(text.includes(CARD_ORG), text);
    assert.ok(text.includes(CARD_UBN), text);
    assert.match(text, /簽章/);
    assert.match(text, /加密/);
    const r = await lib(page, 'getCertificates');
    const ours = r.result.certificates.filter((/** @type {any} */ c) => c.reader === READER);
    assert.deepEqual(ours.map((/** @type {any} */ c) => c.info.usage).sort(), ['encryption', 'signature']);
    for (const c of ours) {
      assert.equal(c.info.holder, CARD_ORG);
      assert.equal(c.info.test, true);
      assert.match(c.id, /^[0-9a-f]{64}$/);
    }
  });

  step('authenticate: login token verified by the server', async (t) => {
    await refreshDemo(page);
    const w = await clickForPin('#login-btn');
    assert.match(await pinWindowText(w), /登入網站/);
    await h.submitPin(w, pin);
    await h.waitClosed(w);
    const res = await resultOf(page, '#login-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.match(res.text, /登入成功/);
    assert.ok((await page.innerText('#session')).includes(`已登入：${CARD_ORG}`));
  });

  step('sign: the PIN typed in the trusted window, the server verifies the CMS signature', async (t) => {
    await refreshDemo(page);
    const doc = await page.$eval('#doc', (e) => /** @type {HTMLTextAreaElement} */ (e).value);
    const w = await clickForPin('#sign-btn');
    const text = await pinWindowText(w);
    assert.ok(text.includes(new URL(demoUrl).origin), text);
    assert.match(text, /簽署文件/);
    assert.ok(text.includes(CARD_ORG), text);
    assert.match(text, /PIN 碼還可以輸入 3 次/);
    // What is signed: the format, the size, the text and its SHA-256.
    const bytes = Buffer.from(doc);
    const sha = createHash('sha256').update(bytes).digest('hex');
    assert.match(await w.innerText('#content'), /CMS 文件簽章/);
    assert.match(await w.innerText('#content'), new RegExp(`${bytes.length.toLocaleString('en-US')} 位元組`));
    assert.equal((await w.innerText('#fingerprintValue')).replace(/\s/g, ''), sha);
    const firstLine = doc.split(/\r?\n/)[0];
    assert.ok(firstLine.length > 0);
    assert.ok((await w.locator('#contentText').textContent())?.startsWith(firstLine), 'the document text in the box');
    assert.ok(await w.locator('#contentText').isVisible());
    assert.ok(await w.locator('#virtual').isVisible(), 'the 虛擬測試卡 banner');
    assert.equal(await w.locator('#pin').getAttribute('type'), 'password');
    assert.equal(await w.locator('#pin').getAttribute('autocomplete'), 'off');
    assert.ok(await w.locator('#submit').isDisabled(), 'submit disabled before 6 characters');
    await w.locator('#pin').fill(pin.slice(0, 3));
    await h.screenshot(w, 'pin-window.png');
    await h.screenshot(w, 'pin-window-full.png', { fullPage: true });
    await h.submitPin(w, pin);
    await h.waitClosed(w);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.match(res.text, /簽章驗證成功/);
    assert.match(res.text, /Signature verified/);
    assert.match(res.text, /與.{0,4}登入的憑證相同/, 'signed with the logged-in certificate');
    await h.screenshot(page, 'demo-page.png', { fullPage: true });
  });

  step('type-ahead: keys typed before the PIN window arms never reach the card', async (t) => {
    await refreshDemo(page);
    assert.equal((await env.card.status()).pinTries, 3);
    const w = await clickForPin('#sign-btn');
    const armed = () => w.evaluate(() => document.documentElement.dataset.armed === 'true');
    const field = () => w.evaluate(() => ({ value: /** @type {HTMLInputElement} */ (document.getElementById('pin')).value, focused: document.activeElement?.id ?? '' }));
    // 1. As the window opens: what the clerk was typing in the page goes on into the window.
    if (!(await armed())) {
      await w.keyboard.type('000000');
      await w.keyboard.press('Enter');
      if (!(await armed())) {
        assert.deepEqual(await field(), { value: '', focused: '' }, 'typed before arming: nothing in the field, and it has no focus');
      } else t.diagnostic('the window armed while typing; the check below does not depend on timing');
    } else t.diagnostic('the window armed before the test could type');
    await h.waitWindowArmed(w);
    assert.deepEqual(await field(), { value: '', focused: 'pin' }, 'armed: an empty PIN field with the focus');
    // 2. The window loses the focus (the clerk clicked the page), keys arrive, the window comes back.
    await w.evaluate(() => window.dispatchEvent(new Event('blur')));
    assert.equal(await armed(), false);
    await w.keyboard.type('000000');
    await w.keyboard.press('Enter');
    assert.equal((await field()).value, '', 'keys while not armed are dropped');
    await w.evaluate(() => window.dispatchEvent(new Event('focus')));
    assert.equal(await armed(), false, 'armed again only after 750 ms');
    await w.keyboard.type('000000');
    await w.keyboard.press('Enter');
    await h.waitWindowArmed(w);
    assert.deepEqual(await field(), { value: '', focused: 'pin' });
    // Nothing reached the card: no PIN try used, the window and the page still wait.
    assert.equal((await env.card.status()).pinTries, 3, 'a typed-ahead PIN was tried on the card');
    assert.ok(!w.isClosed());
    assert.equal(await page.$eval('#sign-result', (e) => /** @type {HTMLElement} */ (e).dataset.state), 'busy');
    assert.equal(await w.innerText('#message'), '');
    await h.submitPin(w, pin);
    await h.waitClosed(w);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
  });

  step('raw sign and decrypt from a site not in rawSignOrigins / decryptOrigins: ERR_NOT_ALLOWED without a PIN window', async (t) => {
    await refreshDemo(page);
    const cert = await ourSigningCert(page);
    const digest = createHash('sha256').update('raw').digest('base64');
    s.markPinWindows();
    const r = await lib(page, 'sign', { certificateId: cert.id, hashAlgorithm: 'SHA-256', digest });
    assert.equal(r.error?.code, 'ERR_NOT_ALLOWED', JSON.stringify(r));
    assert.deepEqual(r.error.details, { operation: 'rawSign', origin: new URL(demoUrl).origin });
    assert.match(r.error.messageZh, /資訊人員/);
    const d = await lib(page, 'decrypt', { ciphertext: Buffer.alloc(256, 1).toString('base64') });
    assert.equal(d.error?.code, 'ERR_NOT_ALLOWED', JSON.stringify(d));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(s.pinPages().filter((p) => !s.seenPin.has(p)).length, 0, 'a PIN window opened');
    assert.equal((await env.card.status()).pinTries, 3);
  });

  step('raw sign from the site the system configuration lists (http://localhost:PORT): PIN window, digest warning, RS256', async (t) => {
    const other = await s.newPage();
    try {
      s.markPinWindows();
      await other.goto(rawUrl + '/');
      const consent = await s.waitPinWindow(); // a new origin asks first
      await h.consentButtons(consent).allow.click();
      await h.waitClosed(consent);
      await demoIdle(other);
      const cert = await ourSigningCert(other);
      const digest = createHash('sha256').update('raw').digest();
      s.markPinWindows();
      const call = lib(other, 'sign', { certificateId: cert.id, hashAlgorithm: 'SHA-256', digest: digest.toString('base64') });
      const w = await s.waitPinWindow();
      const text = await pinWindowText(w);
      assert.match(text, /網站只提供雜湊值，無法顯示內容/);
      assert.match(text, /原始簽章/);
      assert.equal((await w.innerText('#fingerprintValue')).replace(/\s/g, ''), digest.toString('hex'));
      await h.screenshot(w, 'pin-window-digest.png', { fullPage: true });
      await h.submitPin(w, pin);
      await h.waitClosed(w);
      const r = await call;
      assert.ok(r.result, JSON.stringify(r.error));
      assert.equal(r.result.algorithm, 'RS256');
    } finally {
      await other.close();
    }
  });

  step('replay: a token is good once, for its own origin and challenge only', async (t) => {
    const cert = await ourSigningCert(page);
    /** POSTs from the page (same origin, with its cookie). */
    const post = (/** @type {import('playwright-core').Page} */ p, /** @type {string} */ url, /** @type {any} */ body = undefined) => p.evaluate(async ([url, body]) => {
      const r = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, json: await r.json().catch(() => null) };
    }, [url, body]);
    /** authenticate() in p, typing the PIN in the window it opens. */
    const authenticate = async (/** @type {import('playwright-core').Page} */ p, /** @type {string} */ challenge) => {
      s.markPinWindows();
      const call = lib(p, 'authenticate', { challenge, certificateId: cert.id });
      const w = await s.waitPinWindow();
      await h.submitPin(w, pin);
      await h.waitClosed(w);
      const r = await call;
      assert.ok(r.result, `authenticate: ${JSON.stringify(r.error)}`);
      assert.equal(r.result.format, 'cardbridge:1');
      assert.equal(r.result.algorithm, 'PS256');
      return r.result;
    };

    // 1. The same token twice: the second is refused.
    const c1 = (await post(page, '/api/challenge')).json.challenge;
    const tok1 = await authenticate(page, c1);
    const ok = await post(page, '/api/login', tok1);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const again = await post(page, '/api/login', tok1);
    assert.notEqual(again.status, 200, 'a token used once is refused the second time');
    assert.match(again.json.error.code, /^DEMO_(NO_CHALLENGE|LOGIN_REPLAY)$/);

    // 2. Another origin: the same server at http://localhost:PORT. Its
    // challenge, signed by the 127.0.0.1 page, does not log in there.
    const other = await s.newPage();
    try {
      const otherUrl = demoUrl.replace('127.0.0.1', 'localhost');
      await other.goto(otherUrl + '/'); // allowed in the raw sign test
      await demoIdle(other);
      const c2 = (await post(other, '/api/challenge')).json.challenge;
      const forged = await authenticate(page, c2); // made by http://127.0.0.1:PORT
      const cross = await post(other, '/api/login', forged);
      assert.equal(cross.status, 403, JSON.stringify(cross.json));
      assert.equal(cross.json.error.code, 'DEMO_LOGIN_SIGNATURE');
      // The challenge is spent even by the failed attempt: a genuine token
      // for it is now a replay.
      const genuine = await authenticate(other, c2);
      const replay = await post(other, '/api/login', genuine);
      assert.equal(replay.status, 403, JSON.stringify(replay.json));
      assert.equal(replay.json.error.code, 'DEMO_LOGIN_REPLAY');
    } finally {
      await other.close();
    }
  });

  step('wrong PIN: the PIN window stays and shows the tries left', async (t) => {
    await refreshDemo(page);
    const w = await clickForPin('#sign-btn');
    await h.submitPin(w, '000000');
    await w.locator('#message', { hasText: 'PIN 碼錯誤。還可以輸入 2 次' }).waitFor({ timeout: T.medium });
    assert.match(await w.innerText('#tries'), /PIN 碼還可以輸入 2 次/);
    assert.equal(await w.locator('#pin').inputValue(), '', 'the field is cleared');
    assert.ok(!w.isClosed());
    assert.equal(await page.$eval('#sign-result', (e) => /** @type {HTMLElement} */ (e).dataset.state), 'busy', 'the page still waits');
    // The right PIN now; a success resets the counter.
    await h.submitPin(w, pin);
    await h.waitClosed(w);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.equal((await env.card.status()).pinTries, 3);
  });

  step('blocked PIN: 3 wrong PINs block the card; the window says what to do; the page gets ERR_PIN_BLOCKED', async (t) => {
    await refreshDemo(page);
    const w = await clickForPin('#sign-btn');
    await h.submitPin(w, '000000');
    await w.locator('#message', { hasText: '還可以輸入 2 次' }).waitFor();
    await h.submitPin(w, '000000');
    await w.locator('#message', { hasText: '還可以輸入 1 次' }).waitFor();
    assert.match(await w.innerText('#warnings'), /只剩最後 1 次機會/);
    await h.submitPin(w, '000000');
    await w.locator('#blocked').waitFor({ state: 'visible' });
    const text = await h.bodyText(w);
    assert.match(text, /PIN 碼已鎖住/);
    assert.match(text, /PUK/);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'error');
    assert.equal(res.code, 'ERR_PIN_BLOCKED', res.text);
    await w.locator('#blockedClose').click();
    await h.waitClosed(w);
    assert.equal(await page.innerText('#error-code'), 'ERR_PIN_BLOCKED', 'closing the window does not turn it into a cancel');
    assert.equal((await env.card.status()).pinTries, 0);
    // A fresh card for the tests that follow (same keys and certificates).
    await env.card.reset();
    pin = h.PIN;
  });

  step('change PIN in the PIN window, then sign with the new PIN', async (t) => {
    await refreshDemo(page);
    const cert = await ourSigningCert(page);
    s.markPinWindows();
    const call = lib(page, 'changePin', { certificateId: cert.id });
    const w = await s.waitPinWindow();
    const text = await pinWindowText(w);
    assert.match(text, /變更 PIN 碼/);
    assert.match(text, /再輸入一次新的 PIN 碼/);
    // Mismatched confirmation is caught in the window, before the card.
    await w.locator('#pin').fill(pin);
    await w.locator('#newPin').fill('654321');
    await w.locator('#confirmPin').fill('654322');
    assert.ok(await w.locator('#submit').isDisabled());
    assert.match(await w.innerText('#message'), /兩次輸入的新 PIN 碼不一樣/);
    await h.submitChangePin(w, pin, '654321');
    await h.waitClosed(w);
    const r = await call;
    assert.ok(r.result, JSON.stringify(r.error));
    assert.equal(r.result.reader, READER);
    pin = '654321';
    // The old PIN is wrong now; the new one signs.
    const w2 = await clickForPin('#sign-btn');
    await h.submitPin(w2, pin);
    await h.waitClosed(w2);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'ok', `${res.text} ${res.code}`);
    assert.match(res.text, /簽章驗證成功/);
  });

  step('card pulled during the signature: the page shows ERR_CARD_REMOVED', async (t) => {
    await refreshDemo(page);
    await env.card.removeOn('87'); // GENERAL AUTHENTICATE: the card is pulled as it signs
    const w = await clickForPin('#sign-btn');
    await h.submitPin(w, pin);
    const res = await resultOf(page, '#sign-result');
    assert.equal(res.state, 'error');
    assert.equal(res.code, 'ERR_CARD_REMOVED', res.text);
    assert.match(res.text, /作業途中卡片被取出/);
    if (!w.isClosed()) {
      // The window tells the clerk too; close it.
      await w.locator('#failed').waitFor({ state: 'visible' });
      assert.match(await h.bodyText(w), /卡片被取出/);
      // The window may close on its own meanwhile (the session ended):
      // a click that loses that race is no failure.
      await w.locator('#failedClose').click().catch((e) => {
        if (!w.isClosed()) throw e;
      });
      await h.waitClosed(w);
    }
    await env.card.waitPresent(false);
    await env.card.insert();
    // Back in, the next signature works.
    await refreshDemo(page);
    const w2 = await clickForPin('#sign-btn');
    await h.submitPin(w2, pin);
    await h.waitClosed(w2);
    const again = await resultOf(page, '#sign-result');
    assert.equal(again.state, 'ok', `${again.text} ${again.code}`);
  });

  step('overlay: the badge opens the panel on the demo page', async (t) => {
    await page.reload();
    await demoIdle(page);
    await h.openOverlay(page);
    await h.screenshot(page, 'overlay.png');
  });

  step('host not installed: a profile without the host manifest gets ERR_HOST_UNAVAILABLE', async (t) => {
    const bare = await h.launchChromium({ parentDir: env.tmp, config: env.config, hostManifest: false, name: 'profile-without-host' });
    try {
      const p = await bare.newPage();
      await p.goto(demoUrl + '/');
      const res = await resultOf(p, '#status');
      assert.equal(res.state, 'error');
      assert.equal(res.code, 'ERR_HOST_UNAVAILABLE', res.text);
      assert.match(res.text, /找不到 CardBridge 程式/);
      const r = await lib(p, 'status');
      assert.equal(r.error?.code, 'ERR_HOST_UNAVAILABLE');
      assert.match(r.error.messageZh, /cardbridge install --user/);
      assert.match(r.error.message, /The CardBridge program was not found/);
    } finally {
      await bare.close();
    }
  });

  step('toolbar popup in zh-TW with the check items', async (t) => {
    await h.waitOnlyOurCard();
    const p = await h.openPopup(s);
    try {
      assert.match(await p.evaluate(() => chrome.i18n.getUILanguage()), /^zh/i, 'the browser UI runs in zh-TW (needs the chromium-l10n package and LANGUAGE=zh_TW)');
      const items = p.locator('[data-item]');
      assert.equal(await items.count(), 10);
      for (let i = 0; i < 10; i++) assert.ok(await items.nth(i).isVisible(), `check item ${i} visible`);
      const text = await h.bodyText(p);
      assert.match(text, /檢查讀卡機/);
      assert.match(text, /智慧卡服務/);
      assert.ok(text.includes(CARD_ORG), text);
      assert.doesNotMatch(text, /Smart card service/);
      await h.screenshot(p, 'popup.png', { fullPage: true });
    } finally {
      await p.close();
    }
  });

  step('demo walk (make demo): status → consent → login → sign, exit 0', async (t) => {
    await env.card.reset();
    pin = h.PIN;
    const out = path.join(env.tmp, 'walk');
    const walk = fileURLToPath(new URL('./demo-walk.mjs', import.meta.url));
    const child = spawn(process.execPath, [walk, '--url', demoUrl, '--out', out], {
      env: { ...process.env, CARDBRIDGE_CONFIG: env.config }, stdio: 'pipe',
    });
    let output = '';
    child.stdout.on('data', (/** @type {Buffer} */ d) => { output += d; });
    child.stderr.on('data', (/** @type {Buffer} */ d) => { output += d; });
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0, output);
    assert.match(output, /簽章驗證成功/);
    for (const f of ['consent.png', 'pin-window.png', 'demo-page.png', 'overlay.png', 'popup.png']) {
      assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
    }
  });
});
