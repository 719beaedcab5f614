// @ts-check
// The exchange fixture (exchange-fixture.mjs) without a browser: with the
// command line only, the bureau sends the kindergarten a 函 through the real
// centre (out/cardbridge-centre), each agency with its own TEST card in its
// own vpcd reader: sent, received and archived, 收文完成 in the
// kindergarten's inbox, 使用者確認 in the bureau's outbox; the centre's
// announcement read; `exchange serve` answering the page's status request;
// the home found through XDG_DATA_HOME, by the agent and by the native host
// (`cardbridge native --plain`) as a browser profile starts it;
// and, when the private CUPS is up, 補列印 to the cups-pdf printer.
//
//   cd extension && node --test e2e/exchange-fixture.test.mjs
//
// It uses both vpcd readers: do not run it beside another e2e file or the
// Go integration tests. Skipped only when pcscd or vpcd is not installed
// (CARDBRIDGE_REQUIRE_PCSC=1: fails instead).

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { HOST_BIN, T } from './harness.mjs';
import { startExchange, run, pcscMissing, ANNOUNCEMENT, PRINTER } from './exchange-fixture.mjs';

const skipWhy = pcscMissing();
if (skipWhy && process.env.CARDBRIDGE_REQUIRE_PCSC === '1') throw new Error(`CARDBRIDGE_REQUIRE_PCSC=1: ${skipWhy}`);

const SUBJECT = '檢送本局「幼兒園公文電子交換研習」實施計畫，請　查照。';
const BODY = '研習日期：116年1月10日（星期五）上午9時至12時。\n\n請於115年12月20日前至本局網站報名。\n';
const ATTACHMENT = '研習實施計畫.pdf';

/** @type {import('./exchange-fixture.mjs').Exchange} */
let ex;
/** @type {import('./exchange-fixture.mjs').Agency} */
let bureau;
/** @type {import('./exchange-fixture.mjs').Agency} */
let kg;
/** The letter's package id in the kindergarten's inbox. */
let packageId = '';
let attachment = Buffer.alloc(0);

/** @param {string} s @returns {any} */
function json(s) {
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new Error(`not JSON: ${e}\n${s}`);
  }
}

/**
 * A test that needs the fixture; its logs on failure.
 * @param {string} name @param {(t: import('node:test').TestContext) => Promise<void>} fn
 */
function step(name, fn) {
  test(name, { skip: skipWhy || false, timeout: 180_000 }, async (t) => {
    assert.ok(ex, 'the fixture did not start');
    try {
      await fn(t);
    } catch (e) {
      t.diagnostic(ex.logs(name));
      throw e;
    }
  });
}

describe('the exchange fixture: two agencies, their cards and the real centre, from the command line', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    if (skipWhy) return;
    ex = await startExchange();
    [bureau, kg] = ex.agencies;
  }, { timeout: 600_000 });

  after(async () => {
    if (ex) await ex.stop();
  });

  step('the fixture is up: both cards in their readers, both agencies in the centre, both homes set up', async (t) => {
    t.diagnostic(`started in ${(ex.startedInMs / 1000).toFixed(1)} s; centre ${ex.centreUrl}; printing ${ex.cups ? `CUPS_SERVER=${ex.cups.socket}` : ex.cupsWhy}`);
    assert.match(ex.centreUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(ex.agencies.map((a) => [a.code, a.name, a.reader]), [
      ['XC10458570', '測試市教育局', 'Virtual PCD 00 00'],
      ['XC04595252', '測試幼兒園', 'Virtual PCD 00 01'],
    ]);
    const listed = json(await ex.centre.command('agency', 'list', '--json'));
    assert.deepEqual(listed.agencies.map((/** @type {any} */ a) => [a.code, a.name, a.suspended]).sort(), [
      ['XC04595252', '測試幼兒園', false], ['XC10458570', '測試市教育局', false]]);
    for (const a of ex.agencies) {
      assert.equal(a.home, path.join(a.dataHome, 'cardbridge', 'exchange'));
      assert.equal(a.env.XDG_DATA_HOME, a.dataHome);
      assert.deepEqual(ex.browserOptions(a), { parentDir: ex.tmp, config: ex.config, env: a.env, name: `chromium-${a.key}` });
      const set = json((await a.exchange('settings', ['--json'])).stdout);
      assert.equal(set.agency, a.code);
      assert.equal(set.centre, ex.centreUrl);
      assert.equal(set.archive, a.archive);
      assert.equal((await a.card.status()).inserted, true);
    }
    // The card handle: pulled out of its reader and put back, the other card staying.
    await kg.card.remove();
    assert.equal(await bureau.card.present(true), true);
    await kg.card.insert();
  });

  step('the bureau sends a 函 with an attachment; its sync hands it to the centre', async () => {
    const dir = path.join(ex.tmp, 'letters');
    await fsp.mkdir(dir, { recursive: true });
    const body = path.join(dir, '說明.txt');
    await fsp.writeFile(body, BODY);
    attachment = Buffer.from('%PDF-1.4\n% 研習實施計畫\n'.repeat(500));
    const att = path.join(dir, ATTACHMENT);
    await fsp.writeFile(att, attachment);

    const sent = json((await bureau.exchange('send', ['--json', '--to', kg.code, '--subject', SUBJECT, '--body', body, '--attach', att], { pin: true })).stdout);
    assert.equal(sent.state, 'queued', JSON.stringify(sent));
    const sync = json((await bureau.exchange('sync', ['--json'], { pin: true })).stdout);
    assert.deepEqual(sync.sent, [sent.sendId], JSON.stringify(sync));
    assert.equal((sync.failed || []).length + (sync.retrying || []).length, 0, JSON.stringify(sync));
    const out = json((await bureau.exchange('list', ['--out', '--json'])).stdout);
    assert.equal(out.outbox.length, 1);
    assert.deepEqual(out.outbox[0].recipients.map((/** @type {any} */ r) => [r.code, r.label]), [[kg.code, '系統確認']]);
  });

  step('the kindergarten syncs, receives it with its card, archives it: 收文完成', async () => {
    const sync = json((await kg.exchange('sync', ['--json'], { pin: true })).stdout);
    // (Empty lists come as null.)
    assert.equal((sync.received || []).length, 1, JSON.stringify(sync));
    assert.equal((sync.refused || []).length, 0, JSON.stringify(sync));
    const inbox = json((await kg.exchange('list', ['--in', '--json'])).stdout).inbox;
    assert.equal(inbox.length, 1, JSON.stringify(inbox));
    const got = inbox[0];
    packageId = got.packageId;
    assert.deepEqual(sync.received, [packageId]);
    assert.equal(got.state, 'completed');
    assert.equal(got.label, '收文完成');
    assert.equal(got.sender, bureau.code);
    assert.equal(got.subject, SUBJECT);
    assert.equal(got.unread, true);
    assert.ok(got.folder.startsWith(kg.archive + path.sep), `archived in ${got.folder}, not under ${kg.archive}`);
    assert.deepEqual(await fsp.readFile(path.join(got.folder, ATTACHMENT)), attachment);
    const files = await fsp.readdir(got.folder);
    assert.ok(files.some((f) => f.endsWith('.di')), `no DI in ${files}`);
    // The kindergarten's card kept all its PIN tries.
    assert.equal((await kg.card.status()).pinTries, 3);
  });

  step('the bureau syncs: 使用者確認 in its outbox', async () => {
    const sync = json((await bureau.exchange('sync', ['--json'], { pin: true })).stdout);
    assert.ok(sync.updated >= 1, JSON.stringify(sync));
    const text = (await bureau.exchange('list', ['--out'])).stdout;
    assert.match(text, /使用者確認/);
    const out = json((await bureau.exchange('list', ['--out', '--json'])).stdout);
    assert.deepEqual(out.outbox[0].recipients.map((/** @type {any} */ r) => [r.code, r.state, r.label]), [[kg.code, 'user-confirmed', '使用者確認']]);
  });

  step('the agent finds the home through XDG_DATA_HOME (no --home), as under a browser profile', async () => {
    // The agent's default home: $XDG_DATA_HOME/cardbridge/exchange.
    const r = await run(HOST_BIN, ['exchange', 'list', '--in', '--json'], { env: { ...process.env, CARDBRIDGE_CONFIG: ex.config, ...kg.env } });
    assert.deepEqual(json(r.stdout).inbox.map((/** @type {any} */ i) => [i.packageId, i.label]), [[packageId, '收文完成']]);
  });

  step('the native host, with only its profile\'s XDG_DATA_HOME, reaches its agency\'s home and logs in with that agency\'s own card', async () => {
    // `cardbridge native --plain`: the host's protocol in JSON lines; the
    // host starts `cardbridge-exchange exchange serve` (no --home, no
    // --reader) as it does for a browser, with its environment.
    for (const a of ex.agencies) {
      const r = await run(HOST_BIN, ['native', '--plain'], {
        input: '{"id":1,"command":"exchange","args":{"op":"status"}}\n{"id":2,"command":"exchange","args":{"op":"login","pin":"123456"}}\n',
        env: { ...process.env, CARDBRIDGE_CONFIG: ex.config, ...a.env },
      });
      const answers = r.stdout.trim().split('\n').map(json);
      const byId = (/** @type {number} */ id) => answers.find((x) => x.id === id) || assert.fail(`no answer ${id}: ${r.stdout}\n${r.stderr}`);
      assert.equal(byId(1).result?.agency, a.code, r.stdout);
      assert.equal(byId(1).result?.centre, ex.centreUrl, r.stdout);
      assert.deepEqual(byId(2).result, { agency: a.code }, `${a.name} logged in: ${r.stdout}\n${r.stderr}`);
    }
    assert.equal((await bureau.card.status()).pinTries, 3);
    assert.equal((await kg.card.status()).pinTries, 3);
  });

  step("the centre's announcement reaches the agencies", async () => {
    const r = json((await kg.exchange('announcements', ['--json'], { pin: true })).stdout);
    assert.deepEqual(r.announcements.map((/** @type {any} */ a) => a.text), [ANNOUNCEMENT]);
  });

  step('`cardbridge exchange serve` in the kindergarten\'s home answers {"id":1,"op":"status"} with a line of JSON', async () => {
    const c = spawn(HOST_BIN, ['exchange', 'serve', '--home', kg.home, '--reader', kg.reader], {
      env: { ...process.env, CARDBRIDGE_CONFIG: ex.config, ...kg.env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    c.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => c.on('close', (code) => resolve(code)));
    try {
      const lines = readline.createInterface({ input: c.stdout });
      const first = new Promise((resolve, reject) => {
        lines.once('line', resolve);
        c.once('close', () => reject(new Error(`exchange serve ended without answering: ${err}`)));
      });
      c.stdin.write('{"id":1,"op":"status"}\n'); // stdin stays open: the host holds it open too
      /** @type {NodeJS.Timeout | undefined} */
      let timer;
      const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in 30 s: ${err}`)), 30_000); });
      const line = String(await Promise.race([first, late]).finally(() => clearTimeout(timer)));
      const answer = json(line);
      assert.equal(answer.id, 1, line);
      assert.equal(answer.error, undefined, line);
      assert.equal(answer.result.setUp, true, line);
      assert.equal(answer.result.agency, kg.code, line);
      assert.equal(answer.result.centre, ex.centreUrl, line);
      assert.equal(answer.result.loggedIn, false, line);
      assert.equal(answer.result.unread, 1, line);
      c.stdin.end();
      assert.equal(await exited, 0, `exchange serve after its input ended: ${err}`);
    } finally {
      if (c.exitCode === null) c.kill('SIGKILL');
    }
  });

  step('補列印: the 可攜式公文 goes to the private CUPS\'s cups-pdf printer', async (t) => {
    assert.ok(packageId, 'nothing was received');
    const cups = ex.cups;
    if (!cups) {
      if (process.env.CARDBRIDGE_REQUIRE_PCSC === '1') assert.fail(`no private CUPS: ${ex.cupsWhy}`);
      t.skip(`no private CUPS: ${ex.cupsWhy}`);
      return;
    }
    assert.equal(kg.env.CUPS_SERVER, cups.socket);
    // A blank printer setting: the private server's default, CardBridgePDF.
    const r = json((await kg.exchange('print', ['--json', packageId], { timeout: T.long })).stdout);
    assert.equal(r.printed.length, 1, JSON.stringify(r));
    assert.equal(r.printed[0].error || '', '', JSON.stringify(r));
    assert.match(r.printed[0].job, new RegExp(`^${PRINTER}-\\d+$`), JSON.stringify(r));
    const pdf = await cups.waitPDF(r.printed[0].job);
    const head = (await fsp.readFile(pdf)).subarray(0, 5).toString('latin1');
    assert.equal(head, '%PDF-', `${pdf} is not a PDF`);
    t.diagnostic(`printed ${r.printed[0].job} to ${pdf}`);
  });
});
