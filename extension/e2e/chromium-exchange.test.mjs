// @ts-check
// End-to-end, Chromium: the 「公文交換」 page (extension/exchange/) as two
// clerks use it, each in a browser profile of their own with their agency's
// TEST card in their own reader, through the real host, the real exchange
// program and the real centre (exchange-fixture.mjs):
//
//   the bureau logs in with its card's PIN (the PIN window, the agency's
//   card picked by its 統一編號) and reads the announcement as it counts
//   down; the kindergarten logs in; the bureau writes a 函 from the
//   certificate-application template with an attachment, sees the letter
//   in the PIN window and signs it; the kindergarten's 收文匣 shows it
//   without a reload (the centre's push), in bold; the 收文內容預覽 shows
//   the 函 (and is not printable), the attachment opens and is saved byte
//   for byte, the 可攜式公文 is shown, saved (its text read by pdftotext)
//   and printed through a private CUPS (cups-pdf); the bureau's 發文匣
//   shows 使用者確認; a second letter is returned with a reason and the
//   bureau sees 使用者退文 and the reason; the announcement closed itself
//   at the end of its 60-second countdown. Screenshots of every view go to
//   out/screenshots/ (make screenshots copies them into docs/screenshots/).
//
//   cd extension && node --test e2e/chromium-exchange.test.mjs
//
// It uses both vpcd readers: do not run it beside another e2e file or the
// Go integration tests. Skipped only when pcscd or vpcd is not installed
// (CARDBRIDGE_REQUIRE_PCSC=1: fails instead).

import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as h from './harness.mjs';
import { pcscMissing, startExchange } from './exchange-fixture.mjs';

const execFileP = promisify(execFile);
const { T, PIN, EXT_ID } = h;
const PAGE = `chrome-extension://${EXT_ID}/exchange/exchange.html`;

const skipWhy = pcscMissing();
if (skipWhy && process.env.CARDBRIDGE_REQUIRE_PCSC === '1') throw new Error(`CARDBRIDGE_REQUIRE_PCSC=1: ${skipWhy}`);

const SUBJECT = '檢送本局「幼兒園公文電子交換研習」實施計畫，請　查照。';
const ATTACHMENT = '研習實施計畫.pdf';
const ATTACHMENT_BYTES = Buffer.from('%PDF-1.4\n% 研習實施計畫（e2e 測試附件）\n' + 'x'.repeat(700_000) + '\n%%EOF\n'); // more than one 512 KiB part
const RETURNED = '請惠予協助調查本園教保人員人數，請　查照。';
const REASON = '本案非本園業務，請改送正確機關。';

/** @type {import('./exchange-fixture.mjs').Exchange} */
let ex;
/** @type {h.ChromiumSession} */
let bureauBrowser;
/** @type {h.ChromiumSession} */
let kgBrowser;
/** @type {import('playwright-core').Page} */
let bureau;
/** @type {import('playwright-core').Page} */
let kg;
let announcementShownAt = 0;

before(async () => {
  if (skipWhy) return;
  ex = await startExchange();
  const [b, k] = ex.agencies;
  bureauBrowser = await h.launchChromium(ex.browserOptions(b));
  kgBrowser = await h.launchChromium(ex.browserOptions(k));
}, { timeout: 300_000 });

after(async () => {
  await bureauBrowser?.close();
  await kgBrowser?.close();
  await ex?.stop();
});

/**
 * A step of the clerks' day; the logs on failure.
 * @param {string} name @param {() => Promise<void>} fn
 */
function step(name, fn) {
  test(name, { skip: skipWhy || false, timeout: 240_000 }, async () => {
    assert.ok(ex, 'the exchange fixture did not start');
    try {
      await fn();
    } catch (e) {
      if (e instanceof Error) e.message += `\n${ex.logs(name)}`;
      throw e;
    }
  });
}

/**
 * Opens the exchange page and logs in through the PIN window.
 * @param {h.ChromiumSession} s
 */
async function login(s) {
  const p = await s.newPage();
  await p.setViewportSize({ width: 1366, height: 768 });
  await p.goto(PAGE);
  await p.locator('#login').waitFor({ state: 'visible', timeout: T.long });
  s.markPinWindows();
  await p.locator('#login').click();
  const w = await s.waitPinWindow();
  assert.equal(await w.evaluate(() => document.documentElement.dataset.mode), 'exchangeLogin');
  await h.submitPin(w, PIN);
  await h.waitClosed(w);
  await p.waitForFunction(() => document.body.dataset.session === 'in', null, { timeout: T.long });
  return p;
}

/** The rows of the table: id, state and text. @param {import('playwright-core').Page} p */
function rows(p) {
  return p.$$eval('#docs tbody tr[data-id]', (trs) =>
    trs.map((tr) => ({ id: tr.getAttribute('data-id') ?? '', state: tr.getAttribute('data-state') ?? '', text: /** @type {HTMLElement} */ (tr).innerText, bold: getComputedStyle(tr.querySelector('td:nth-child(4)') ?? tr).fontWeight })),
  );
}

/**
 * Waits for a row whose text holds text (the page refreshes itself).
 * @param {import('playwright-core').Page} p @param {string} text @param {(r: {state: string, text: string}) => boolean} [ok]
 */
async function waitRow(p, text, ok = () => true, timeout = T.long) {
  return h.waitFor(async () => (await rows(p)).find((r) => r.text.includes(text) && ok(r)), { timeout, what: `a row with ${text}` });
}

/** Selects the row of id. @param {import('playwright-core').Page} p @param {string} id */
async function select(p, id) {
  await p.locator(`#docs tbody tr[data-id="${id}"] td:nth-child(4)`).click();
  await p.locator('#detailBody').waitFor({ state: 'visible' });
}

step('both clerks log in with their agency cards; the bureau reads the announcement as it counts down', async () => {
  bureau = await login(bureauBrowser);
  const dialog = bureau.locator('#announcement');
  await dialog.waitFor({ state: 'visible', timeout: T.long });
  announcementShownAt = Date.now();
  assert.match(await bureau.locator('#announcementText').innerText(), /例行維護/);
  const first = Number(await bureau.locator('#countdown').innerText());
  assert.ok(first > 50 && first <= 60, `the countdown starts at ${first}`);
  await h.screenshot(bureau, 'exchange-announcement.png');
  await h.waitFor(async () => Number(await bureau.locator('#countdown').innerText()) <= first - 2, { what: 'the countdown to go down' });
  // The bureau leaves it open: it must close by itself (checked at the end).
  kg = await login(kgBrowser);
  // The kindergarten's clerk closes it (「關閉」).
  await kg.locator('#announcement').waitFor({ state: 'visible', timeout: T.long });
  await kg.locator('#announcementClose').click();
  await kg.locator('#announcement').waitFor({ state: 'hidden' });
  assert.equal(await kg.locator('#agency').innerText().then((t) => t.includes('XC04595252')), true, 'the kindergarten is logged in as itself');
  await h.screenshot(kg, 'exchange-list-empty.png');
});

step('the bureau writes a 函 from the template, sees it in the PIN window and signs it', async () => {
  // The bureau's announcement is modal: the clerk reads it before writing.
  if (await bureau.locator('#announcement').isVisible()) {
    // Wait for it to close on its own, rather than click: the end of the day's first test.
    await bureau.locator('#announcement').waitFor({ state: 'hidden', timeout: 70_000 });
    assert.ok(Date.now() - announcementShownAt >= 55_000, 'the announcement closed before its 60 seconds');
  }
  await bureau.locator('#navCompose').click();
  await bureau.locator('#recipients input[value="XC04595252"]').waitFor({ timeout: T.long });
  await bureau.locator('#template').selectOption({ index: 1 });
  assert.match(await bureau.locator('#subject').inputValue(), /憑證/, 'the certificate-application template fills the subject');
  await bureau.locator('#subject').fill(SUBJECT);
  await bureau.locator('#body').fill('研習日期：116年1月10日（星期五）上午9時至12時。\n請於115年12月20日前至本局網站報名。');
  await bureau.locator('#recipients input[value="XC04595252"]').check();
  await bureau.locator('#attach').setInputFiles({ name: ATTACHMENT, mimeType: 'application/pdf', buffer: ATTACHMENT_BYTES });
  await bureau.locator('#attachments').getByText(ATTACHMENT).waitFor();
  await h.screenshot(bureau, 'exchange-compose.png');
  bureauBrowser.markPinWindows();
  await bureau.locator('#send').click();
  const w = await bureauBrowser.waitPinWindow();
  assert.equal(await w.evaluate(() => document.documentElement.dataset.mode), 'exchangeSend');
  const shown = await w.locator('#contentText').innerText();
  for (const want of ['測試幼兒園（XC04595252）', SUBJECT, '研習日期', ATTACHMENT]) assert.ok(shown.includes(want), `the PIN window does not show ${want}:\n${shown}`);
  await h.waitWindowArmed(w);
  await h.screenshot(w, 'exchange-pin-send.png');
  await h.submitPin(w, PIN);
  await h.waitClosed(w);
  // The page moves to the 發文匣 and follows the recipient's state.
  await bureau.locator('#viewList').waitFor({ state: 'visible', timeout: T.long });
  await waitRow(bureau, SUBJECT);
});

/** @type {string} */
let received = '';

step('the kindergarten sees it arrive without a reload, in bold; the preview shows the 函 and is not printable', async () => {
  const row = await waitRow(kg, SUBJECT, (r) => r.state === 'completed', 60_000);
  received = row.id;
  assert.ok(Number(row.bold) >= 600, `an unread row is bold (font-weight ${row.bold})`);
  await h.screenshot(kg, 'exchange-list.png');
  await select(kg, received);
  await kg.locator('#previewButton').click();
  await kg.locator('#preview').waitFor({ state: 'visible' });
  assert.equal((await kg.locator('#letterSubject').innerText()).replace(/\s/g, ''), SUBJECT.replace(/\s/g, ''));
  const letter = await kg.locator('#letter').innerText();
  for (const want of ['測試市教育局', '主旨', '說明', '正本', ATTACHMENT]) assert.ok(letter.includes(want), `the preview lacks ${want}:\n${letter}`);
  await h.screenshot(kg, 'exchange-preview.png');
  await kg.emulateMedia({ media: 'print' });
  assert.equal(await kg.locator('#letter').isVisible(), false, 'the 收文內容預覽 printed');
  await kg.emulateMedia({ media: 'screen' });
  await kg.locator('#previewClose').click();
  const after = (await rows(kg)).find((r) => r.id === received);
  assert.ok(after && Number(after.bold) < 600, 'read once previewed');
});

step('the attachment opens with a double click and is saved byte for byte from the context menu', async () => {
  const item = kg.locator(`#files li[data-name="${ATTACHMENT}"]`);
  await item.waitFor({ timeout: T.long });
  const opened = kg.context().waitForEvent('page', { timeout: T.long });
  await item.dblclick();
  const tab = await opened;
  assert.match(tab.url(), /^blob:chrome-extension:\/\//, 'opened from the page, not from a server');
  await tab.close();
  await item.click({ button: 'right' });
  await kg.locator('#fileMenu').waitFor({ state: 'visible' });
  await h.screenshot(kg, 'exchange-files.png');
  const download = kg.waitForEvent('download', { timeout: T.long });
  await kg.locator('#saveAs').click();
  const d = await download;
  // The page names it (<a download>); Chromium under automation reports a
  // non-ASCII name as "download" (ChromeDevTools/devtools-protocol#242).
  assert.ok([ATTACHMENT, 'download'].includes(d.suggestedFilename()), d.suggestedFilename());
  const saved = await fsp.readFile(/** @type {string} */ (await d.path()));
  assert.ok(saved.equals(ATTACHMENT_BYTES), `saved ${saved.length} bytes, sent ${ATTACHMENT_BYTES.length}`);
});

step('the 可攜式公文: shown, saved with its text and 電子交換章, printed through CUPS', async () => {
  await kg.locator('#openPortable').click();
  await kg.locator('#portable').waitFor({ state: 'visible' });
  await kg.waitForFunction(() => /^blob:/.test(/** @type {HTMLIFrameElement} */ (document.getElementById('portableFrame'))?.src ?? ''), null, { timeout: T.long });
  await h.screenshot(kg, 'exchange-portable.png');
  const download = kg.waitForEvent('download', { timeout: T.long });
  await kg.locator('#savePortable').click();
  const pdf = /** @type {string} */ (await (await download).path());
  const { stdout: text } = await execFileP('pdftotext', [pdf, '-']);
  for (const want of ['電子交換章', '測試市教育局', '研習']) assert.ok(text.includes(want), `the saved 可攜式公文 lacks ${want}:\n${text.slice(0, 600)}`);
  // The README's picture of the 可攜式公文 (headless Chromium shows no PDF in the frame).
  await execFileP('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', '-singlefile', pdf, path.join(h.SCREENSHOTS, 'exchange-portable-page')]);
  const { stdout: fonts } = await execFileP('pdffonts', [pdf]);
  assert.match(fonts, /CID TrueType\s+Identity-H\s+yes/, `fonts embedded:\n${fonts}`);
  if (ex.cups) {
    await kg.locator('#printPortable').click();
    await h.waitFor(async () => (await kg.locator('#portableStatus').innerText()).match(/CardBridgePDF-\d+|已送印|sent to the printer/), { timeout: T.long, what: 'the print job' });
    const status = await kg.locator('#portableStatus').innerText();
    const job = status.match(/CardBridgePDF-\d+/)?.[0];
    assert.ok(job, `no job in ${status}`);
    const printed = await ex.cups.waitPDF(job);
    const { stdout: pf } = await execFileP('pdfinfo', [printed]);
    assert.match(pf, /Pages:\s+[1-9]/);
  }
  await kg.locator('#portableClose').click();
});

step('the bureau sees 使用者確認; a second letter is returned with a reason and the bureau sees 使用者退文 with it', async () => {
  await bureau.locator('#navList').click();
  await bureau.locator('#tabOut').click();
  await waitRow(bureau, SUBJECT, (r) => r.text.includes('使用者確認'), 60_000);
  await h.screenshot(bureau, 'exchange-outbox.png');

  await bureau.locator('#navCompose').click();
  await bureau.locator('#recipients input[value="XC04595252"]').check();
  await bureau.locator('#subject').fill(RETURNED);
  await bureau.locator('#body').fill('請於本週內填報。');
  bureauBrowser.markPinWindows();
  await bureau.locator('#send').click();
  const w = await bureauBrowser.waitPinWindow();
  await h.submitPin(w, PIN);
  await h.waitClosed(w);

  const row = await waitRow(kg, RETURNED, (r) => r.state === 'completed', 60_000);
  await select(kg, row.id);
  await kg.locator('#returnDoc').click();
  await kg.locator('#returnReason').fill(REASON);
  await h.screenshot(kg, 'exchange-return.png');
  await kg.locator('#returnConfirm').click();
  await kg.locator('#returnDialog').waitFor({ state: 'hidden', timeout: T.long });

  await bureau.locator('#navList').click();
  await bureau.locator('#tabOut').click();
  await waitRow(bureau, RETURNED, (r) => r.text.includes('使用者退文'), 60_000);
  const out = await rows(bureau);
  const back = out.find((r) => r.text.includes(RETURNED));
  await select(bureau, /** @type {any} */ (back).id);
  assert.ok((await bureau.locator('#detailBody').innerText()).includes(REASON), 'the bureau does not see the reason');
});

step('設定: the 機關代碼 is checked as it is typed', async () => {
  await kg.locator('#navSettings').click();
  const code = kg.locator('#setAgency');
  await code.waitFor();
  assert.equal(await code.inputValue(), 'XC04595252');
  await code.fill('XC0459525');
  const partial = await kg.locator('#setAgencyState').innerText();
  await code.fill('XC04595253');
  const wrong = await kg.locator('#setAgencyState').innerText();
  assert.notEqual(partial, wrong, 'the verdict changes as the code is typed');
  assert.match(wrong, /檢查碼|check digit/);
  await h.screenshot(kg, 'exchange-settings.png');
  await code.fill('XC04595252');
});
