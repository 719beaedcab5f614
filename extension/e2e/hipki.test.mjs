// @ts-check
// End-to-end, HiPKI compatibility (docs/hipki.md): Debian's chromium with
// the extension, out/cardbridge and the virtual TEST card; the test page
// e2e/hipki-site/ (written the way government pages use CHT's HiPKI Local
// Sign Server: the popupForm with postMessage and the origin check, fetch
// to /pkcs11info and /sign) served at http://127.0.0.1:PORT, which the
// system configuration lists in legacySites. Nothing listens on
// localhost:61161: every answer is CardBridge's.
//
//   cd extension && node --test e2e/hipki.test.mjs
//
// Certificates listed; a PKCS7 signature with the signed attributes the
// pages' verifiers read, checked by `openssl cms -verify`; PKCS1 (fetch)
// and RAW signatures checked by openssl with the certificate's key; the
// page's own PIN field never used; a wrong PIN then cancel, and a cancel,
// answered with errorcode.js's ret_codes; the same page at
// http://localhost:PORT (not listed) gets nothing; the clerk's switch.

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import * as h from './harness.mjs';

const execFileP = promisify(execFile);
const { T, READER, CARD_ORG } = h;
const STEP = { timeout: 240_000 };
const SITE_DIR = path.join(h.EXT_DIR, 'e2e', 'hipki-site');

/** @type {h.Env} */
let env;
/** @type {h.ChromiumSession} */
let s;
/** @type {import('playwright-core').Page} */
let page;
let pageUrl = '';
let otherUrl = '';
/** @type {http.Server} */
let server;
let skipWhy = '';
/** The card's signature certificate (base64 DER), from GetUserCert. */
let signCert = '';
/** The card's encryption certificate (base64 DER). */
let encCert = '';

/** Serves e2e/hipki-site on 127.0.0.1; resolves with its port. */
async function serveSite() {
  server = http.createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : path.basename(req.url ?? '');
    const file = path.join(SITE_DIR, name);
    if (!fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/html; charset=utf-8' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(null)));
  return /** @type {import('node:net').AddressInfo} */ (server.address()).port;
}

/** openssl, failing with what it said. @param {string[]} args */
async function openssl(...args) {
  try {
    const { stdout, stderr } = await execFileP('openssl', args, { maxBuffer: 8 << 20 });
    return stdout + stderr;
  } catch (e) {
    const err = /** @type {any} */ (e);
    throw new Error(`openssl ${args.join(' ')}: ${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** The certificate's public key as a PEM file. @param {string} certB64 */
async function publicKey(certB64) {
  const der = path.join(env.tmp, 'sign-cert.der');
  await fsp.writeFile(der, Buffer.from(certB64, 'base64'));
  const pem = path.join(env.tmp, 'sign-pub.pem');
  await openssl('x509', '-inform', 'DER', '-in', der, '-pubkey', '-noout', '-out', pem);
  return pem;
}

/** Escape in the PIN window; the window may close between the key's down and up. @param {import('playwright-core').Page} w */
async function cancel(w) {
  await w.locator('#app').waitFor({ state: 'visible', timeout: T.medium });
  await w.keyboard.press('Escape').catch((e) => {
    if (!w.isClosed()) throw e;
  });
}

/** Whether the compatibility script runs in the page. @param {import('playwright-core').Page} p */
const compat = (p) => p.evaluate(() => /** @type {any} */ (window).__cardbridgeHiPKI === true);

/** A popup request from the page, as the page's own code makes it. @param {any} payload @param {number} [ms] */
function popup(payload, ms = 120_000) {
  return page.evaluate(([p, t]) => /** @type {any} */ (window).hipki.popup(p, t), /** @type {const} */ ([payload, ms]));
}

/** Waits until the compatibility script is registered and running in p (reloading). @param {import('playwright-core').Page} p @param {string} url */
async function openCompatPage(p, url) {
  await p.goto(url);
  await h.waitFor(async () => {
    if (await compat(p)) return true;
    await p.reload();
    return false;
  }, { timeout: T.long, interval: 500, what: 'the HiPKI compatibility script in the page' });
}

describe('HiPKI compatibility in Chromium', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    if (!fs.existsSync(path.join(h.EXT_DIR, 'manifest.json'))) skipWhy ||= 'the extension is missing';
    if (!fs.existsSync(h.CHROMIUM)) skipWhy ||= `chromium is not installed (${h.CHROMIUM})`;
    if (skipWhy) return;
    env = await h.setup({ demo: false });
    const port = await serveSite();
    pageUrl = `http://127.0.0.1:${port}/`;
    otherUrl = `http://localhost:${port}/`;
    const systemConfig = await h.writeSystemConfig(env.tmp, { legacySites: [`http://127.0.0.1:${port}`] });
    s = await h.launchChromium({ parentDir: env.tmp, config: env.config, systemConfig });
    page = await s.newPage();
  }, { timeout: 300_000 });

  after(async () => {
    if (env && process.env.E2E_LOGS === '1') console.error(env.logs('hipki'));
    await s?.close();
    server?.close();
    await env?.stop();
  }, { timeout: 120_000 });

  /** @param {string} name @param {() => Promise<void>} fn */
  const step = (name, fn) =>
    test(name, STEP, async (t) => {
      if (skipWhy) return t.skip(skipWhy);
      await fn();
    });

  step('GetUserCert through the popup: the card\'s certificates as pkcs11info, after the consent window', async () => {
    await openCompatPage(page, pageUrl);
    const answer = popup({ func: 'GetUserCert' });
    const consent = await s.waitPinWindow();
    assert.ok((await h.bodyText(consent)).includes(new URL(pageUrl).origin));
    await h.waitWindowArmed(consent);
    await h.consentButtons(consent).allow.click();
    const ret = await answer;
    assert.equal(ret.ret_code, 0, JSON.stringify(ret));
    assert.equal(ret.func, 'pkcs11info');
    assert.match(ret.serverVersion, /^1\.3\.4\./);
    const slot = ret.slots.find((/** @type {any} */ x) => x.slotDescription === READER);
    assert.ok(slot?.token?.certs, JSON.stringify(ret.slots));
    const [cert1, cert2] = slot.token.certs;
    assert.equal(cert1.label, 'cert1');
    assert.equal(cert1.usage, 'digitalSignature');
    assert.equal(cert2.usage, 'keyEncipherment|dataEncipherment');
    assert.ok(cert1.subjectDN.includes(CARD_ORG), cert1.subjectDN);
    assert.ok(cert1.notAfterT > Date.now() / 1000);
    signCert = cert1.certb64;
    encCert = cert2.certb64;
    assert.ok(signCert.length > 500);
    // The page's own button says it too.
    await page.click('#certs-btn');
    await page.waitForFunction(() => document.getElementById('log')?.dataset.state === 'ok');
    assert.match(await page.innerText('#log'), /cert1/);
  });

  step('PKCS7 through the popup: CardBridge\'s PIN window (the page\'s PIN field ignored), verified by openssl cms -verify with the signed attributes', async () => {
    const tbs = await page.inputValue('#tbs');
    s.markPinWindows();
    await page.click('#sign-btn');
    const w = await s.waitPinWindow();
    const text = await h.bodyText(w);
    assert.ok(text.includes(new URL(pageUrl).origin), `the window shows the site: ${text}`);
    assert.ok(text.includes(tbs), `the window shows the text to sign: ${text}`);
    await h.waitWindowArmed(w);
    await h.screenshot(w, 'hipki-pin.png');
    await h.submitPin(w, h.PIN);
    await page.waitForFunction(() => ['ok', 'fail'].includes(document.getElementById('log')?.dataset.state ?? ''), null, { timeout: T.long });
    assert.equal(await page.$eval('#log', (e) => /** @type {HTMLElement} */ (e).dataset.state), 'ok', await page.innerText('#log'));
    await h.screenshot(page, 'hipki-page.png');
    // The same request from code, to take the signature.
    s.markPinWindows();
    const answer = popup({ func: 'MakeSignature', tbs, tbsEncoding: 'NONE', hashAlgorithm: 'SHA256', signatureType: 'PKCS7', pin: '000000', nonce: 'e2e-nonce-0001', withCardSN: 'true' });
    const w2 = await s.waitPinWindow();
    await h.waitWindowArmed(w2);
    await h.submitPin(w2, h.PIN);
    const ret = await answer;
    assert.equal(ret.ret_code, 0, JSON.stringify(ret));
    assert.equal(ret.func, 'sign');
    assert.equal(ret.certb64, signCert);
    assert.equal(ret.cardSN, h.CARD_SERIAL);
    const p7s = path.join(env.tmp, 'hipki.p7s');
    const content = path.join(env.tmp, 'hipki-tbs.txt');
    await fsp.writeFile(p7s, Buffer.from(ret.signature, 'base64'));
    await fsp.writeFile(content, tbs, 'utf8');
    const verified = await openssl('cms', '-verify', '-inform', 'DER', '-in', p7s, '-content', content, '-binary', '-CAfile', env.card.ca, '-purpose', 'any', '-out', '/dev/null');
    assert.match(verified, /Verification successful/);
    const printed = await openssl('cms', '-cmsout', '-print', '-inform', 'DER', '-in', p7s);
    assert.match(printed, /signingTime/);
    assert.match(printed, /1\.2\.840\.113549\.1\.9\.25\.3|randomNonce/, 'the nonce attribute');
    assert.match(printed, /2\.16\.886\.1\.100\.2\.204/, 'the card serial attribute');
    // A changed document does not verify.
    await fsp.writeFile(content, tbs + ' ', 'utf8');
    await assert.rejects(openssl('cms', '-verify', '-inform', 'DER', '-in', p7s, '-content', content, '-binary', '-CAfile', env.card.ca, '-purpose', 'any', '-out', '/dev/null'));
  });

  step('PKCS1 through fetch POST /sign, and RAW through the popup: verified with the certificate\'s key', async () => {
    const pub = await publicKey(signCert);
    const data = Buffer.from('公文 PKCS1 測試 1+1=2', 'utf8');
    s.markPinWindows();
    const fetched = page.evaluate((b64) => /** @type {any} */ (window).hipki.fetchSign({ tbs: b64, tbsEncoding: 'base64', hashAlgorithm: 'SHA256', signatureType: 'PKCS1', pin: '000000' }), data.toString('base64'));
    let w = await s.waitPinWindow();
    await h.waitWindowArmed(w);
    await h.submitPin(w, h.PIN);
    let ret = await fetched;
    assert.equal(ret.ret_code, 0, JSON.stringify(ret));
    const dataFile = path.join(env.tmp, 'pkcs1.bin');
    const sigFile = path.join(env.tmp, 'pkcs1.sig');
    await fsp.writeFile(dataFile, data);
    await fsp.writeFile(sigFile, Buffer.from(ret.signature, 'base64'));
    assert.match(await openssl('dgst', '-sha256', '-verify', pub, '-signature', sigFile, dataFile), /Verified OK/);

    const digest = createHash('sha256').update('RAW 測試').digest();
    s.markPinWindows();
    const raw = popup({ func: 'MakeSignature', tbs: digest.toString('base64'), tbsEncoding: 'base64', signatureType: 'RAW' });
    w = await s.waitPinWindow();
    // The window shows the digest the page sent (in groups of hex digits).
    const shown = (await h.bodyText(w)).replace(/[\s:]/g, '').toLowerCase();
    assert.ok(shown.includes(digest.toString('hex')), `the window shows the digest: ${shown}`);
    await h.waitWindowArmed(w);
    await h.submitPin(w, h.PIN);
    ret = await raw;
    assert.equal(ret.ret_code, 0, JSON.stringify(ret));
    await fsp.writeFile(dataFile, digest);
    await fsp.writeFile(sigFile, Buffer.from(ret.signature, 'base64'));
    assert.match(await openssl('pkeyutl', '-verify', '-pubin', '-inkey', pub, '-in', dataFile, '-sigfile', sigFile, '-pkeyopt', 'digest:sha256'), /Signature Verified Successfully/);
  });

  step('DecryptData through the popup: what openssl encrypted to the card\'s encryption certificate comes back as text', async () => {
    const der = path.join(env.tmp, 'enc-cert.der');
    const pub = path.join(env.tmp, 'enc-pub.pem');
    await fsp.writeFile(der, Buffer.from(encCert, 'base64'));
    await openssl('x509', '-inform', 'DER', '-in', der, '-pubkey', '-noout', '-out', pub);
    const plainFile = path.join(env.tmp, 'plain.txt');
    const cipherFile = path.join(env.tmp, 'cipher.bin');
    await fsp.writeFile(plainFile, '會議通知：密件 42', 'utf8');
    await openssl('pkeyutl', '-encrypt', '-pubin', '-inkey', pub, '-in', plainFile, '-out', cipherFile, '-pkeyopt', 'rsa_padding_mode:pkcs1');
    s.markPinWindows();
    const answer = popup({ func: 'DecryptData', cipher: (await fsp.readFile(cipherFile)).toString('base64'), plainEncoding: 'NONE', pin: '000000' });
    const w = await s.waitPinWindow();
    assert.ok((await h.bodyText(w)).includes(new URL(pageUrl).origin));
    await h.waitWindowArmed(w);
    await h.submitPin(w, h.PIN);
    const ret = await answer;
    assert.equal(ret.ret_code, 0, JSON.stringify(ret));
    assert.equal(ret.func, 'decrypt');
    assert.equal(ret.plain, '會議通知：密件 42');
  });

  step('a cancel answers 0x76000999 (and so does a request in the pause after it); a wrong PIN then cancel answers 0x76100006 with two tries left', async () => {
    s.markPinWindows();
    let answer = popup({ func: 'MakeSignature', tbs: 'y', signatureType: 'PKCS7' });
    let w = await s.waitPinWindow();
    await h.waitWindowArmed(w);
    await cancel(w);
    let ret = await answer;
    assert.equal(ret.ret_code, 0x76000999, JSON.stringify(ret));
    assert.match(ret.message, /取消/);
    // For 30 seconds after a cancel the site gets no new window: cancelled at once.
    ret = await popup({ func: 'MakeSignature', tbs: 'z', signatureType: 'PKCS7' });
    assert.equal(ret.ret_code, 0x76000999, JSON.stringify(ret));
    assert.equal(s.pinPages().filter((p) => !s.seenPin.has(p)).length, 0, 'no window in the pause');
    await new Promise((r) => setTimeout(r, 31_000));
    s.markPinWindows();
    answer = popup({ func: 'MakeSignature', tbs: 'x', signatureType: 'PKCS7' });
    w = await s.waitPinWindow();
    await h.waitWindowArmed(w);
    await h.submitPin(w, '654321');
    // The card's answer is in the window (2 tries left) before the cancel.
    await w.locator('#tries').filter({ hasText: '2' }).waitFor({ state: 'visible', timeout: T.medium });
    await cancel(w);
    ret = await answer;
    assert.equal(ret.ret_code, 0x76100006, JSON.stringify(ret));
    assert.equal(ret.last_error, 0x80000002);
    assert.equal((await env.card.status()).pinTries, 2, 'one wrong PIN, no retry of it');
    await env.card.reset();
  });

  step('the same page at another origin (not listed) gets nothing: no script, no window, the real server unreachable', async () => {
    const other = await s.newPage();
    await other.goto(otherUrl);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await compat(other), false);
    s.markPinWindows();
    const r = await other.evaluate(() => /** @type {any} */ (window).hipki.popup({ func: 'GetUserCert' }, 3000).then((/** @type {any} */ x) => ({ x }), (/** @type {any} */ e) => ({ e: String(e.message) })));
    assert.match(String(r.e), /逾時未回應/, JSON.stringify(r));
    const f = await other.evaluate(() => /** @type {any} */ (window).hipki.fetchInfo().then(() => 'answered', () => 'failed'));
    assert.equal(f, 'failed');
    assert.equal(s.pinPages().filter((p) => !s.seenPin.has(p)).length, 0, 'no window for an unlisted site');
    for (const p of s.context.pages()) if (p !== page && p.url().includes('61161')) await p.close();
    await other.close();
  });

  step('the clerk\'s switch in the options turns the compatibility off and on again', async () => {
    const sw = await s.worker();
    await sw.evaluate(() => chrome.storage.local.set({ hipkiCompat: false }));
    await h.waitFor(async () => {
      await page.reload();
      return !(await compat(page));
    }, { timeout: T.long, interval: 500, what: 'the script gone after the switch' });
    await sw.evaluate(() => chrome.storage.local.set({ hipkiCompat: true }));
    await openCompatPage(page, pageUrl);
  });
});
