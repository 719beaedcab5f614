#!/usr/bin/env node
// @ts-check
// The demo walk for `make demo` (no display needed):
//
//   node extension/e2e/demo-walk.mjs --url http://127.0.0.1:PORT --out DIR [--pin 123456]
//
// Launches headless Chromium with the extension and the host manifest in a
// throwaway profile (the host, out/cardbridge, inherits CARDBRIDGE_CONFIG
// from this process), then walks the demo site like a clerk: status →
// consent → login with the PIN → sign → screenshots in DIR. Prints each step
// in zh-TW and English; exits 0 on success, 1 on failure (2: bad usage).

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as h from './harness.mjs';

const usage = 'usage: node extension/e2e/demo-walk.mjs --url <demo url> --out <dir> [--pin 123456]';
/** @type {{url?: string, out?: string, pin?: string}} */
let opts;
try {
  ({ values: opts } = parseArgs({ options: { url: { type: 'string' }, out: { type: 'string' }, pin: { type: 'string' } } }));
} catch (e) {
  console.error(`${e instanceof Error ? e.message : e}\n${usage}`);
  process.exit(2);
}
if (!opts.url || !opts.out) {
  console.error(usage);
  process.exit(2);
}
const url = opts.url.replace(/\/$/, '');
const out = path.resolve(opts.out);
const pin = opts.pin || h.PIN;

let n = 0;
/** @param {string} zh @param {string} en */
const step = (zh, en) => console.log(`\n${++n}. ${zh} / ${en}`);
/** @param {string} zh @param {string} en */
const ok = (zh, en) => console.log(`   ✓ ${zh} / ${en}`);
/** @param {string} text */
const show = (text) => console.log(text.split('\n').filter((l) => l.trim()).map((l) => `     ${l}`).join('\n'));

/** @param {import('playwright-core').Page} page @param {string} sel */
async function result(page, sel) {
  await page.waitForFunction((sel) => {
    const e = /** @type {HTMLElement | null} */ (document.querySelector(sel));
    return !!e && (e.dataset.state === 'ok' || e.dataset.state === 'error');
  }, sel, { timeout: h.T.long });
  const state = await page.$eval(sel, (e) => /** @type {HTMLElement} */ (e).dataset.state);
  const text = await page.innerText(sel);
  if (state !== 'ok') throw new Error(`${sel}:\n${text}`);
  return text;
}

/** A result box in short: its title and its label：value lines. @param {import('playwright-core').Page} page @param {string} sel */
async function brief(page, sel) {
  return page.$eval(sel, (e) => {
    const title = e.querySelector('.box-title');
    const lines = title ? [/** @type {HTMLElement} */ (title).innerText.replace(/\n+/g, ' / ')] : [];
    for (const dt of e.querySelectorAll('dt')) {
      const dd = dt.nextElementSibling;
      lines.push(`${/** @type {HTMLElement} */ (dt).innerText.replace(/\n+/g, ' ')}：${dd ? /** @type {HTMLElement} */ (dd).innerText.replace(/\n+/g, ' ') : ''}`);
    }
    return lines.length ? lines.join('\n') : /** @type {HTMLElement} */ (e).innerText;
  });
}

/** @type {h.ChromiumSession | null} */
let s = null;
/** @type {import('playwright-core').Page | null} */
let page = null;
let tmp = '';
let code = 1;
try {
  if (!fs.existsSync(h.HOST_BIN)) {
    throw new Error(`找不到 ${h.HOST_BIN}；請先執行 make build / ${h.HOST_BIN} is missing: run make build (go build -o out/cardbridge ./host)`);
  }
  await fsp.mkdir(out, { recursive: true });
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'cardbridge-demo-walk-'));
  console.log(`CardBridge 示範流程 / demo walk: ${url}`);
  console.log(`截圖 / screenshots: ${out}`);

  step('啟動瀏覽器（Chromium，無畫面）與 CardBridge 擴充功能', 'start headless Chromium with the CardBridge extension');
  s = await h.launchChromium({ parentDir: tmp });
  const session = s;
  ok('擴充功能已載入', 'extension loaded');

  step('讀卡機狀態', 'reader status');
  session.markPinWindows();
  page = await session.newPage();
  const p = page;
  await p.goto(url + '/');
  show(await result(p, '#status'));
  ok('CardBridge 已就緒', 'CardBridge is ready');

  step('第一次使用：允許網站使用憑證卡', 'first use: allow the site to use the card');
  // The page lists the certificates on load: a site used for the first time
  // asks for consent (unless it is pre-approved).
  const first = await h.waitFor(async () => {
    if (session.pinPages().some((w) => !session.seenPin.has(w))) return 'window';
    return (await p.evaluate(() => document.body?.dataset.ready === 'true').catch(() => false)) && 'ready';
  }, { timeout: h.T.long, what: 'the consent window, or the page to be ready' });
  const consent = first === 'window' ? await session.waitPinWindow() : null;
  if (consent) {
    await consent.locator('#consent').waitFor({ state: 'visible' });
    show(`${await consent.innerText('#origin')}：${await consent.innerText('#consent h1')}`);
    await consent.screenshot({ path: path.join(out, 'consent.png') });
    await h.consentButtons(consent).allow.click();
    await h.waitClosed(consent);
    ok('已允許', 'allowed');
  } else {
    ok('這個網站已預先核准，不必詢問', 'the site is pre-approved: no question');
  }

  step('讀取卡片上的憑證', 'read the certificates on the card');
  await p.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: h.T.long });
  await result(p, '#certs');
  show(await p.evaluate(async () => {
    const lib = '/cardbridge.js'; // the demo serves the page library here
    const cb = await import(lib);
    const { certificates } = await cb.getCertificates();
    return certificates.map((/** @type {any} */ c) => `${c.info.holder}（統一編號 ${c.info.ubn || '–'}）${c.info.usage}，${c.info.caNameZh || c.info.ca}，${String(c.info.notAfter).slice(0, 10)} 到期 / expires${c.info.test ? '，測試用 TEST' : ''}（${c.reader}）`).join('\n');
  }));
  ok('已讀到憑證', 'certificates read');

  /** Clicks a button, types the PIN in the CardBridge window, returns the window's text. @param {string} btn @param {string} [shot] */
  const withPin = async (btn, shot) => {
    session.markPinWindows();
    await p.click(btn);
    const w = await session.waitPinWindow({ timeout: h.T.long });
    await w.locator('#pin').waitFor({ state: 'visible' });
    const text = `${await w.innerText('#origin')}：${await w.innerText('#action')}（${await w.innerText('#tries')}）`;
    if (shot) {
      await w.locator('#pin').fill(pin.slice(0, 3)); // the picture shows a PIN being typed
      await w.screenshot({ path: path.join(out, shot) });
    }
    await h.submitPin(w, pin);
    await h.waitClosed(w, h.T.long).catch(async () => {
      throw new Error(`PIN 視窗沒有關閉 / the PIN window stayed open:\n${await h.bodyText(w)}`);
    });
    return text;
  };

  step(`以憑證登入（在 CardBridge 視窗輸入 PIN ${pin}）`, `log in with the card (PIN ${pin} typed in the CardBridge window)`);
  show(await withPin('#login-btn', 'pin-window.png'));
  await result(p, '#login-result');
  show(await brief(p, '#login-result'));
  ok('登入成功，伺服器已驗證', 'logged in; the server verified the token');

  step('簽署公文', 'sign the document');
  await withPin('#sign-btn');
  const signed = await result(p, '#sign-result');
  show(await brief(p, '#sign-result'));
  if (!/簽章驗證成功/.test(signed)) throw new Error(`簽章結果不符 / unexpected signing result:\n${signed}`);
  ok('簽章驗證成功', 'signature verified by the server');

  step('截圖', 'screenshots');
  await p.screenshot({ path: path.join(out, 'demo-page.png'), fullPage: true });
  await h.openOverlay(p).then(() => p.screenshot({ path: path.join(out, 'overlay.png') }))
    .catch((e) => console.log(`   ! 狀態面板沒有開啟 / the overlay panel did not open: ${e.message}`));
  const popup = await h.openPopup(session);
  await popup.screenshot({ path: path.join(out, 'popup.png'), fullPage: true });
  await popup.close();
  for (const f of fs.readdirSync(out).filter((f) => f.endsWith('.png')).sort()) console.log(`     ${path.join(out, f)}`);
  ok('完成', 'done');
  console.log('\n示範流程全部成功 / the demo walk succeeded');
  code = 0;
} catch (e) {
  console.error(`\n✗ 失敗 / failed: ${e instanceof Error ? e.message : e}`);
  if (page && !page.isClosed()) {
    const shot = path.join(out, 'failure.png');
    await page.screenshot({ path: shot, fullPage: true }).then(() => console.error(`   ${shot}`)).catch(() => {});
    const err = await page.locator('#error').innerText().catch(() => '');
    if (err.trim()) console.error(err);
  }
} finally {
  await s?.close();
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true, maxRetries: 3 });
}
process.exit(code);
