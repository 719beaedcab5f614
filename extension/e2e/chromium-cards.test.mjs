// @ts-check
// End-to-end, Chromium: the ways a card is reached beside CardBridge's own
// PIV over PC/SC, each in a fresh browser profile with its own host
// configuration (docs/protocol.md §6):
//
//   A. OpenSC's PKCS#11 module only (pkcs11Modules, modulesOnly): the demo's
//      sign flow, the server verifies the CMS signature;
//   B. two cards (the harness card in vpcd slot 1 and a second TEST card
//      served directly on loopback, virtualReader): authenticate without a
//      certificateId makes the PIN window ask which certificate (pin-choose);
//   C. a HiCOS gen-1 card without the vendor's module (softcard --profile
//      hicos on loopback): listed read-only, the popup's check says what is
//      missing, a signature gets ERR_HICOS_CLIENT_NEEDED before any window.
//
//   cd extension && node --test --test-concurrency=1 e2e/chromium-cards.test.mjs
//
// Do not run it beside another e2e file or the Go integration tests: they
// share pcscd and vpcd.

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import * as h from './harness.mjs';
const { lib, resultOf, demoIdle } = h;

const execFileP = promisify(execFile);
const { T, READER, CARD_ORG } = h;
/** Each test is bounded: its own browser, started and closed inside it. */
const STEP = { timeout: 240_000 };
const VIRTUAL_READER = 'CardBridge Virtual Reader';
/** The second card (test B). */
const CARD2 = { org: '測試幼兒園', ubn: '04595252', serial: 'TESTE2E000000002' };
/** The HiCOS-profile card (test C). */
const CARD3 = { org: '測試國民中學', ubn: '12345676', serial: 'TESTE2E000000003' };

/** @type {h.Env} */
let env;
let skipWhy = '';

/**
 * Opens the demo page in a fresh profile and allows the site in the consent
 * window its first getCertificates opens; returns the page, idle.
 * @param {h.ChromiumSession} s
 */
async function demoWithConsent(s) {
  const page = await s.newPage();
  s.markPinWindows();
  await page.goto(/** @type {string} */ (env.demoUrl) + '/');
  const w = await s.waitPinWindow();
  await w.locator('#consent').waitFor({ state: 'visible' });
  await h.waitWindowArmed(w);
  await h.consentButtons(w).allow.click();
  await h.waitClosed(w);
  await demoIdle(page);
  return page;
}

/** The host's certificates, through the page library. @param {import('playwright-core').Page} p @returns {Promise<any[]>} */
async function certificates(p) {
  const r = await lib(p, 'getCertificates');
  assert.ok(r.result, `getCertificates: ${JSON.stringify(r.error)}`);
  return r.result.certificates;
}

/** A compact view of a certificate list for assertion messages. @param {any[]} certs */
const brief = (certs) => JSON.stringify(certs.map((c) => ({ reader: c.reader, holder: c.info?.holder, usage: c.info?.usage, caps: c.capabilities, backend: c.backend, module: c.module, readOnly: c.readOnly })));

/** A host configuration file in env.tmp. @param {string} name @param {Record<string, unknown>} config */
async function writeConfig(name, config) {
  const file = path.join(env.tmp, `${name}.json`);
  await fsp.writeFile(file, JSON.stringify({ logLevel: 'debug', logFile: env.hostLog, ...config }, null, 2));
  return file;
}

/** OpenSC's PKCS#11 module, as internal/integration/pkcs11_test.go finds it; '' when absent. */
async function openscModule() {
  /** @type {string[]} */
  const found = [];
  try {
    const { stdout } = await execFileP('dpkg', ['-L', 'opensc-pkcs11', 'opensc'], { timeout: 10_000 });
    found.push(...stdout.split('\n').map((l) => l.trim()).filter((l) => path.basename(l) === 'opensc-pkcs11.so'));
  } catch (e) {
    // dpkg answers non-zero when one of the two packages is not installed; it still lists the other.
    const out = String(/** @type {any} */ (e).stdout || '');
    found.push(...out.split('\n').map((l) => l.trim()).filter((l) => path.basename(l) === 'opensc-pkcs11.so'));
  }
  for (const dir of ['/usr/lib', '/usr/lib64']) {
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    found.push(path.join(dir, 'opensc-pkcs11.so'));
    for (const e of entries) {
      if (e.isDirectory()) found.push(path.join(dir, e.name, 'opensc-pkcs11.so'), path.join(dir, e.name, 'pkcs11', 'opensc-pkcs11.so'));
    }
  }
  for (const p of found) {
    try {
      if (fs.lstatSync(p).isFile()) return p; // a regular file, not the pkcs11/ symlink
    } catch {}
  }
  for (const p of found) {
    try {
      if (fs.statSync(p).isFile()) return fs.realpathSync(p);
    } catch {}
  }
  return '';
}

/** A free loopback port. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * A TEST card issued by the harness CA and served directly on loopback
 * (cardbridge-softcard serve --listen), for the host's virtualReader.
 * @param {string} name @param {{org: string, ubn: string, serial: string}} who @param {string[]} [serveArgs]
 */
async function loopbackCard(name, who, serveArgs = []) {
  const state = path.join(env.tmp, `${name}.json`);
  const logFile = path.join(env.tmp, `${name}.log`);
  await execFileP(h.SOFTCARD_BIN, ['issue', '--state', state, '--ca', env.card.ca, '--org', who.org, '--ubn', who.ubn, '--serial', who.serial], { timeout: 30_000 });
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const fd = fs.openSync(logFile, 'a');
  const proc = spawn(h.SOFTCARD_BIN, ['serve', '--state', state, '--listen', addr, ...serveArgs], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((r) => proc.once('exit', r));
  // The log says so once it accepts: a probing connection would be taken for the host's.
  await h.waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`cardbridge-softcard serve exited ${proc.exitCode}:\n${h.tail(logFile)}`);
    return fs.readFileSync(logFile, 'utf8').includes('virtual card listening');
  }, { timeout: T.short, what: `${name} listening on ${addr}` });
  return {
    addr,
    logFile,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** @param {string} tag @param {{logFile: string}[]} [cards] */
function logs(tag, cards = []) {
  return [env.logs(tag), ...cards.map((c) => `--- ${path.basename(c.logFile)}\n${h.tail(c.logFile, 15)}`)].join('\n');
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
    const t0 = Date.now();
    try {
      await fn(t);
    } finally {
      t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  });
}

describe('CardBridge in Chromium: PKCS#11, two cards, HiCOS without its module', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    for (const [what, p] of [['the extension manifest', path.join(h.EXT_DIR, 'manifest.json')], ['the page library', path.join(h.EXT_DIR, 'page', 'cardbridge.js')]]) {
      if (!fs.existsSync(p)) skipWhy ||= `${what} is missing: ${p}`;
    }
    if (!fs.existsSync(h.CHROMIUM)) skipWhy ||= `chromium is not installed (${h.CHROMIUM}); apt-get install chromium`;
    if (skipWhy) return;
    env = await h.setup();
    if (!env.demoUrl) skipWhy = env.demoWhy || 'no demo site';
  }, { timeout: 300_000 });

  after(async () => {
    if (env && process.env.E2E_LOGS === '1') console.error(env.logs('chromium-cards'));
    await env?.stop();
  }, { timeout: 120_000 });

  step('PKCS#11: the browser sign flow through OpenSC\'s module', async (t) => {
    const opensc = await openscModule();
    if (!opensc) {
      t.skip('opensc-pkcs11.so not found (Debian package opensc-pkcs11)');
      return;
    }
    const config = await writeConfig('config-pkcs11', { pkcs11Modules: [opensc], modulesOnly: true, noModuleDiscovery: true });
    const s = await h.launchChromium({ parentDir: env.tmp, config, name: 'profile-pkcs11' });
    try {
      const page = await demoWithConsent(s);
      const certs = await certificates(page);
      assert.ok(certs.length >= 2, `the card's two certificates through OpenSC: ${brief(certs)}\n${logs('pkcs11')}`);
      for (const c of certs) {
        assert.equal(c.backend, 'pkcs11', `every certificate through the module: ${brief(certs)}`);
        assert.equal(c.module, opensc, brief(certs));
        assert.match(c.reader, /\(PKCS#11: opensc-pkcs11\.so\)$/, brief(certs));
      }
      assert.ok(certs.some((c) => c.info.holder === CARD_ORG && c.capabilities.includes('sign')), brief(certs));
      assert.equal(await page.$eval('#certs', (e) => /** @type {HTMLElement} */ (e).dataset.state), 'ok');

      s.markPinWindows();
      await page.click('#sign-btn');
      const w = await s.waitPinWindow();
      await w.locator('#request').waitFor({ state: 'visible' });
      const text = await h.bodyText(w);
      assert.match(text, /簽署文件/);
      assert.ok(text.includes(CARD_ORG), text);
      assert.ok(text.includes(new URL(/** @type {string} */ (env.demoUrl)).origin), text);
      await h.waitWindowArmed(w);
      await h.screenshot(w, 'pin-window-pkcs11.png');
      await h.submitPin(w, h.PIN); // OpenSC's PIV PIN: digits, 123456 fits
      await h.waitClosed(w, T.long);
      const res = await resultOf(page, '#sign-result');
      assert.equal(res.state, 'ok', `${res.text} ${res.code}\n${logs('pkcs11')}`);
      assert.match(res.text, /簽章驗證成功/);
      assert.ok(res.text.includes(CARD_ORG), res.text);
    } finally {
      await s.close();
    }
  });

  step('two cards: the PIN window asks which certificate', async (t) => {
    await h.waitOnlyOurCard(T.medium);
    const card2 = await loopbackCard('card2', CARD2);
    try {
      const config = await writeConfig('config-two-cards', { virtualReader: card2.addr });
      const s = await h.launchChromium({ parentDir: env.tmp, config, name: 'profile-two-cards' });
      try {
        const page = await demoWithConsent(s);
        const certs = await certificates(page);
        const auth = certs.filter((c) => c.capabilities.includes('authenticate'));
        assert.deepEqual(auth.map((c) => [c.info.holder, c.reader]).sort(), [[CARD_ORG, READER], [CARD2.org, VIRTUAL_READER]].sort(),
          `one login certificate per card: ${brief(certs)}\n${logs('two cards', [card2])}`);
        const second = auth.find((c) => c.info.holder === CARD2.org);

        // No certificateId: two fit, nothing is picked silently.
        const challenge = randomBytes(32).toString('base64');
        s.markPinWindows();
        const call = lib(page, 'authenticate', { challenge });
        const w = await s.waitPinWindow();
        await w.locator('#chooser').waitFor({ state: 'visible' });
        assert.ok(await w.locator('#request').isHidden(), 'no PIN form before a choice');
        assert.equal(await w.evaluate(() => document.documentElement.dataset.mode), 'choose');
        assert.ok(await w.locator('#virtual').isVisible(), 'the 虛擬測試卡 banner while choosing between two TEST cards');
        const radios = w.locator('#choices input[type=radio]');
        assert.equal(await radios.count(), 2);
        const text = await w.innerText('#chooser');
        assert.match(text, /選擇要使用的憑證/);
        assert.match(text, /登入網站/);
        for (const x of [CARD_ORG, CARD2.org, READER, VIRTUAL_READER, CARD2.ubn]) assert.ok(text.includes(x), `${x} in the chooser: ${text}`);
        assert.ok(await w.locator('#choose').isDisabled(), '使用這張憑證 disabled before a pick');
        await h.waitWindowArmed(w);
        assert.ok(await w.locator('#choose').isDisabled(), 'still disabled when armed, with nothing picked');
        await h.screenshot(w, 'pin-choose.png', { fullPage: true });

        await w.locator('#choices label.choice', { hasText: CARD2.org }).locator('input[type=radio]').check();
        await w.waitForFunction(() => !(/** @type {HTMLButtonElement} */ (document.getElementById('choose'))).disabled, null, { timeout: T.medium });
        await w.locator('#choose').click();
        // The window reloads into the PIN form for that card (armed anew).
        await w.locator('#request').waitFor({ state: 'visible', timeout: T.medium });
        await w.waitForFunction(() => document.documentElement.dataset.mode === 'authenticate', null, { timeout: T.medium });
        const form = await w.innerText('#request');
        assert.ok(form.includes(CARD2.org), form);
        assert.ok(!form.includes(CARD_ORG), `only the chosen card: ${form}`);
        assert.match(form, /PIN 碼還可以輸入 3 次/);
        assert.ok(await w.locator('#virtual').isVisible(), 'the 虛擬測試卡 banner for the chosen TEST card');
        await h.submitPin(w, h.PIN);
        await h.waitClosed(w);
        const r = await call;
        assert.ok(r.result, `authenticate: ${JSON.stringify(r.error)}\n${logs('two cards', [card2])}`);
        assert.equal(r.result.format, 'cardbridge:1');
        assert.equal(r.result.certificate, second.certificate, 'signed by the chosen (second) card');
        assert.equal((await env.card.status()).pinTries, 3, 'the first card was not asked');
      } finally {
        await s.close();
      }
    } finally {
      await card2.stop();
    }
  });

  step('HiCOS card without the vendor module: listed read-only, the check says what is missing', async (t) => {
    await h.waitOnlyOurCard(T.medium);
    await env.card.remove();
    try {
      const card3 = await loopbackCard('card3-hicos', CARD3, ['--profile', 'hicos']);
      try {
        const config = await writeConfig('config-hicos', { virtualReader: card3.addr, noModuleDiscovery: true });
        const s = await h.launchChromium({ parentDir: env.tmp, config, name: 'profile-hicos' });
        try {
          // The toolbar popup's check.
          const p = await h.openPopup(s);
          try {
            const text = await h.bodyText(p);
            assert.match(text, /找到中華電信 HiCOS 卡/, `${text}\n${logs('hicos', [card3])}`);
            assert.match(text, /moica\.nat\.gov\.tw/, text);
            assert.match(text, /HiCOS 用戶端程式/, text);
            await h.screenshot(p, 'popup-hicos.png', { fullPage: true });
            // No 變更 PIN 碼 for a card that cannot change its PIN here: the
            // card box says what to install instead.
            assert.equal(await p.locator('article.card button', { hasText: '變更 PIN 碼' }).count(), 0, 'a PIN button offered for a read-only HiCOS card');
            assert.match(await p.locator('article.card').first().innerText(), /只能讀取憑證/);
            // The headline: the card cannot be used here yet.
            assert.match(text, /目前無法使用憑證卡/, text);
          } finally {
            await p.close();
          }

          // The page: shown, not usable.
          const page = await demoWithConsent(s);
          const certs = await certificates(page);
          assert.ok(certs.length >= 1, `the HiCOS card's certificates: ${brief(certs)}\n${logs('hicos', [card3])}`);
          for (const c of certs) {
            assert.equal(c.reader, VIRTUAL_READER, brief(certs));
            assert.equal(c.readOnly, true, brief(certs));
            assert.deepEqual(c.capabilities, [], brief(certs));
            assert.equal(c.info.holder, CARD3.org, brief(certs));
          }
          const data = Buffer.from('HiCOS 測試公文\n').toString('base64');
          s.markPinWindows();
          const r = await lib(page, 'sign', { certificateId: certs[0].id, format: 'cms', hashAlgorithm: 'SHA-256', data });
          assert.equal(r.error?.code, 'ERR_HICOS_CLIENT_NEEDED', JSON.stringify(r));
          assert.match(String(r.error.details?.download), /^https:\/\/moica\.nat\.gov\.tw\//, JSON.stringify(r.error));
          assert.match(r.error.messageZh, /HiCOS/);
          // Named by no certificateId: only read-only certificates could answer.
          const a = await lib(page, 'authenticate', { challenge: randomBytes(32).toString('base64') });
          assert.equal(a.error?.code, 'ERR_HICOS_CLIENT_NEEDED', JSON.stringify(a));
          await new Promise((r) => setTimeout(r, 1000));
          assert.equal(s.pinPages().filter((x) => !s.seenPin.has(x)).length, 0, 'a PIN window opened');
        } finally {
          await s.close();
        }
      } finally {
        await card3.stop();
      }
    } finally {
      await env.card.insert();
    }
  });
});
