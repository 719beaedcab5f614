// @ts-check
// End-to-end in Debian's firefox-esr: the 「公文交換」 page (extension/exchange/)
// loads, logs in through the PIN window with the kindergarten's card, lists
// the letter the bureau sent (with the command line) and previews it; the
// same host, exchange program and centre as the Chromium test
// (exchange-fixture.mjs, firefox-harness.mjs).
//
//   cd extension && node --test e2e/firefox-exchange.test.mjs
//
// It uses both vpcd readers: do not run it beside another e2e file or the
// Go integration tests.

import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import * as h from './harness.mjs';
import { pcscMissing, startExchange } from './exchange-fixture.mjs';
import { firefoxMissing, launchFirefox } from './firefox-harness.mjs';

const { T, PIN } = h;
const SUBJECT = '函轉教育部「幼兒園公文電子交換」推動計畫，請　查照。';

let skipWhy = pcscMissing() || firefoxMissing();
if (skipWhy && process.env.CARDBRIDGE_REQUIRE_PCSC === '1') throw new Error(`CARDBRIDGE_REQUIRE_PCSC=1: ${skipWhy}`);

/** @type {import('./exchange-fixture.mjs').Exchange} */
let ex;
/** @type {import('./firefox-harness.mjs').FirefoxSession} */
let ff;

before(async () => {
  if (skipWhy) return;
  ex = await startExchange({ cups: false });
  const [bureau, kg] = ex.agencies;
  const body = path.join(ex.tmp, 'firefox-body.txt');
  await fsp.writeFile(body, '請各園於116年1月31日前完成設定。\n');
  await bureau.exchange('send', ['--to', kg.code, '--subject', SUBJECT, '--body', body], { pin: true });
  await bureau.exchange('sync', [], { pin: true });
  try {
    ff = await launchFirefox({ dir: ex.tmp, config: ex.config, env: kg.env });
  } catch (e) {
    skipWhy = `firefox-esr did not start under puppeteer-core (WebDriver BiDi): ${e instanceof Error ? e.message : e}`;
  }
}, { timeout: 300_000 });

after(async () => {
  await ff?.close();
  await ex?.stop();
}, { timeout: 120_000 });

test('Firefox: the exchange page loads, logs in with the PIN window, lists the letter and previews it', { timeout: 240_000 }, async (t) => {
  if (skipWhy) {
    t.skip(skipWhy);
    return;
  }
  try {
    const page = await ff.openExtensionPage('exchange/exchange.html');
    await page.waitForSelector('#login:not([hidden])', { visible: true, timeout: T.long });
    await ff.markPages();
    await page.click('#login');
    const w = await ff.waitPinWindow();
    assert.equal(await w.evaluate(() => document.documentElement.dataset.mode), 'exchangeLogin');
    await ff.submitPin(w, PIN);
    await ff.waitClosed(w);
    await page.waitForFunction(() => document.body.dataset.session === 'in', { timeout: T.long });
    // The centre's announcement first: 「關閉」.
    await page.waitForSelector('#announcement[open]', { timeout: T.long });
    await page.click('#announcementClose');
    await page.waitForFunction((s) => [...document.querySelectorAll('#docs tbody tr[data-id]')].some((tr) => /** @type {HTMLElement} */ (tr).innerText.includes(s)), { timeout: T.long }, SUBJECT);
    await page.$$eval('#docs tbody tr[data-id] td:nth-child(4)', (tds) => /** @type {HTMLElement} */ (tds[0]).click());
    await page.waitForSelector('#previewButton', { visible: true });
    await page.click('#previewButton');
    await page.waitForSelector('#preview[open]');
    await page.waitForFunction((s) => (document.getElementById('letterSubject')?.textContent ?? '').replace(/\s/g, '') === s.replace(/\s/g, ''), { timeout: T.long }, SUBJECT);
    const letter = await page.$eval('#letter', (e) => /** @type {HTMLElement} */ (e).innerText);
    assert.ok(letter.includes('測試市教育局') && letter.includes('請各園於116年1月31日前完成設定'), letter);
  } catch (e) {
    if (e instanceof Error) e.message += `\n${ex.logs('firefox exchange')}`;
    throw e;
  }
});
