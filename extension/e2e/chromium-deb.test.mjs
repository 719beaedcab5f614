// @ts-check
// End-to-end, the Debian package on this machine: the development .deb
// (`go run ./installer deb --dev`, so its manifests also allow the unpacked
// development extension) installed with dpkg; its system manifests point at
// /usr/lib/cardbridge/cardbridge; Debian's chromium with the extension, in a
// fresh profile without a NativeMessagingHosts folder and with HOME in a
// temporary folder, reaches that host through /etc/chromium/native-messaging-hosts
// only (the popup shows the host's check report; the process Chromium started
// is the installed binary); `cardbridge check` and `cardbridge version` run
// from /usr/bin; `dpkg --purge cardbridge` removes every file and folder the
// package added.
//
//   cd extension && node --test e2e/chromium-deb.test.mjs
//
// It installs into the real system: it needs root and dpkg, and is skipped
// without them (CARDBRIDGE_REQUIRE_PCSC=1 as root: fails instead). It never
// touches a cardbridge package installed before it, nor files that were
// there before (skipped then). It purges the package when it ends, whether
// the tests passed or not. No card and no pcscd are needed: the host's check
// report says what it finds, and that report is what the test looks for.

import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as h from './harness.mjs';
import { buildExchange } from './exchange-fixture.mjs';

const execFileP = promisify(execFile);
const { T, EXT_ID, HOST_NAME, ROOT } = h;

const INSTALLED_HOST = '/usr/lib/cardbridge/cardbridge';
const ON_PATH = '/usr/bin/cardbridge';
const CHROMIUM_MANIFEST = `/etc/chromium/native-messaging-hosts/${HOST_NAME}.json`;
const SYSTEM_CONFIG_DIR = '/etc/cardbridge';
const VERSION = '0.0.0+e2e';
const STEP = { timeout: 240_000 };

/** @param {string} msg */
function log(msg) {
  if (process.env.E2E_QUIET !== '1') process.stderr.write(`[e2e deb] ${msg}\n`);
}

/**
 * Runs a command; resolves with its status and output (never rejects on a
 * non-zero exit).
 * @param {string} cmd @param {string[]} args
 * @param {{env?: NodeJS.ProcessEnv, timeout?: number}} [o]
 * @returns {Promise<{code: number, stdout: string, stderr: string}>}
 */
async function run(cmd, args, { env = process.env, timeout = T.long } = {}) {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { env, timeout, cwd: ROOT, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = /** @type {any} */ (err);
    if (typeof e.code !== 'number') throw err; // not started, or killed by the timeout
    return { code: e.code, stdout: String(e.stdout ?? ''), stderr: String(e.stderr ?? '') };
  }
}

/** @param {string} cmd */
function onPath(cmd) {
  return (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
}

/** @param {string} p */
function exists(p) {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** @param {string} file */
function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * The package's files (and links) and folders, from `dpkg-deb --contents`,
 * as absolute paths.
 * @param {string} deb
 */
async function debContents(deb) {
  const { code, stdout, stderr } = await run('dpkg-deb', ['--contents', deb]);
  assert.equal(code, 0, `dpkg-deb --contents: ${stderr}`);
  /** @type {string[]} */
  const files = [];
  /** @type {string[]} */
  const dirs = [];
  for (const line of stdout.split('\n')) {
    // drwxr-xr-x root/root 0 2026-12-06 20:55 ./usr/lib/cardbridge/
    // lrwxrwxrwx root/root 0 2026-12-06 20:55 ./usr/bin/cardbridge -> ../lib/cardbridge/cardbridge
    const m = /^(\S)\S*\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(\/\S*?)\/?(?: -> \S+)?$/.exec(line);
    if (!m) continue;
    if (m[1] === 'd') {
      if (m[2] !== '/' && m[2] !== '') dirs.push(m[2]);
    } else files.push(m[2]);
  }
  return { files, dirs };
}

/**
 * The host processes running from `exe`, with their command lines.
 * @param {string} exe
 */
function processesOf(exe) {
  /** @type {{pid: number, args: string[]}[]} */
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readlinkSync(`/proc/${d}/exe`) !== exe) continue;
      out.push({ pid: Number(d), args: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

let skipWhy = '';
let tmp = '';
let deb = '';
let builtHost = '';
/** @type {{files: string[], dirs: string[]}} */
let contents = { files: [], dirs: [] };
/** @type {string[]} The package's folders that did not exist before it was installed: the purge must remove them. */
let newDirs = [];
/** Set once dpkg -i ran (even if it failed: a half-installed package is purged too). */
let installed = false;
let purged = false;
/** @type {h.ChromiumSession | undefined} */
let browser;

/** Purges the package (synchronously: also from the exit handler). */
function purgeNow() {
  if (!installed || purged) return { status: 0, output: '' };
  log('dpkg --purge cardbridge');
  const r = spawnSync('dpkg', ['--purge', 'cardbridge'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: T.long });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status === 0) purged = true;
  else log(`dpkg --purge cardbridge failed (${r.status ?? r.signal}): ${output}`);
  return { status: r.status ?? -1, output };
}

// The last resort when the run is cut short: the machine is never left with the package.
process.on('exit', () => {
  purgeNow();
});

/**
 * A test that needs the installed package; skipped with the reason.
 * @param {string} name @param {(t: import('node:test').TestContext) => Promise<void>} fn
 */
function step(name, fn) {
  test(name, STEP, async (t) => {
    if (skipWhy) {
      t.skip(skipWhy);
      return;
    }
    await fn(t);
  });
}

describe('the .deb on this machine, with Chromium', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!root) {
      skipWhy = 'installs a .deb into the system: run as root';
      return;
    }
    /** @type {string[]} */
    const missing = [];
    for (const cmd of ['dpkg', 'dpkg-deb']) if (!onPath(cmd)) missing.push(`${cmd} is not installed (a Debian system)`);
    if (!fs.existsSync(h.CHROMIUM)) missing.push(`chromium is not installed (${h.CHROMIUM}); apt-get install chromium`);
    if (!fs.existsSync(path.join(h.EXT_DIR, 'manifest.json'))) missing.push(`the extension manifest is missing: ${h.EXT_DIR}`);
    if (missing.length) {
      if (process.env.CARDBRIDGE_REQUIRE_PCSC === '1') throw new Error(`CARDBRIDGE_REQUIRE_PCSC=1: ${missing.join('; ')}`);
      skipWhy = missing.join('; ');
      return;
    }
    if ((await run('dpkg', ['-s', 'cardbridge'])).code === 0) {
      skipWhy = 'a cardbridge package is already installed on this machine (dpkg -s cardbridge): not touched; remove it to run this test';
      return;
    }

    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'cardbridge-e2e-deb-'));
    log('building out/cardbridge, out/cardbridge-exchange and the development .deb');
    builtHost = await h.buildHost();
    const exchange = await buildExchange();
    const built = await run('go', ['run', './installer', 'deb', '--dev', '--version', VERSION, '--out', tmp, '--host', builtHost, '--exchange', exchange], { timeout: 300_000 });
    assert.equal(built.code, 0, `go run ./installer deb: ${built.stderr}`);
    deb = path.join(tmp, `cardbridge_${VERSION}_amd64.deb`);
    assert.equal(built.stdout.trim(), deb);
    contents = await debContents(deb);
    assert.ok(contents.files.includes(INSTALLED_HOST) && contents.files.includes(ON_PATH) && contents.files.includes(CHROMIUM_MANIFEST),
      `the package's files: ${contents.files.join(' ')}`);

    // Nothing of it may be there already (a `cardbridge install --system`,
    // or a package removed without purge): dpkg would take those files over
    // and the purge would delete them.
    const there = [...contents.files, SYSTEM_CONFIG_DIR].filter(exists);
    if (there.length) {
      skipWhy = `files the package would install are already on this machine (not touched): ${there.join(', ')}`;
      return;
    }
    newDirs = contents.dirs.filter((d) => !exists(d));

    log(`dpkg -i ${path.basename(deb)}`);
    installed = true;
    const inst = await run('dpkg', ['-i', deb], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (inst.code !== 0) {
      const out = `${inst.stdout}${inst.stderr}`;
      const deps = /dependency problems|depends on/i.test(out) ? ' (dependency problems: the package depends on libc6 (>= 2.34), libpcsclite1 and pcscd)' : '';
      throw new Error(`dpkg -i failed with status ${inst.code}${deps}:\n${out}`);
    }
    const st = await run('dpkg', ['-s', 'cardbridge']);
    assert.match(st.stdout, /Status: install ok installed/);
    assert.match(st.stdout, new RegExp(`Version: ${VERSION.replace(/[+.]/g, '\\$&')}`));
  }, { timeout: 600_000 });

  after(async () => {
    await browser?.close();
    browser = undefined;
    const r = purgeNow();
    if (r.status !== 0) log(`the package may still be installed: ${r.output}`);
    if (tmp) {
      if (process.env.E2E_KEEP === '1') log(`kept ${tmp}`);
      else await fsp.rm(tmp, { recursive: true, force: true, maxRetries: 3 });
    }
  }, { timeout: 180_000 });

  step('installed: the programs in /usr/lib/cardbridge, the link on the PATH, the system manifests point at the installed host', async () => {
    for (const f of contents.files) assert.ok(exists(f), `${f} installed`);
    assert.equal(fs.realpathSync(ON_PATH), INSTALLED_HOST);
    assert.equal(sha256(INSTALLED_HOST), sha256(builtHost), 'the installed host is the one just built');
    assert.ok((fs.statSync(INSTALLED_HOST).mode & 0o111) !== 0, 'executable');

    const m = JSON.parse(await fsp.readFile(CHROMIUM_MANIFEST, 'utf8'));
    assert.equal(m.name, HOST_NAME);
    assert.equal(m.type, 'stdio');
    assert.equal(m.path, INSTALLED_HOST);
    assert.ok(Array.isArray(m.allowed_origins) && m.allowed_origins.includes(`chrome-extension://${EXT_ID}/`),
      `allowed_origins ${JSON.stringify(m.allowed_origins)} has the development extension`);
    // The other browsers' system manifests in the package name the same host.
    for (const f of contents.files.filter((x) => x.endsWith(`/${HOST_NAME}.json`))) {
      assert.equal(JSON.parse(await fsp.readFile(f, 'utf8')).path, INSTALLED_HOST, f);
    }
  });

  step('Chromium reaches the installed host through the system manifest only (no per-user manifest)', async () => {
    const home = path.join(tmp, 'home');
    await fsp.mkdir(home);
    const hostLog = path.join(tmp, 'host.log');
    const config = path.join(tmp, 'config.json');
    await fsp.writeFile(config, JSON.stringify({ logLevel: 'debug', logFile: hostLog }));
    const name = 'chromium-deb-profile';
    const profile = path.join(tmp, name);
    const userHosts = path.join(profile, 'NativeMessagingHosts');
    assert.ok(!exists(profile), 'a fresh profile');
    browser = await h.launchChromium({
      parentDir: tmp, config, hostManifest: false, name, overlay: false,
      env: { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') },
    });
    // Chromium makes the profile's (per-user) NativeMessagingHosts folder
    // itself, empty; nothing may be in it, nor in HOME's.
    const noUserManifest = () => {
      assert.deepEqual(exists(userHosts) ? fs.readdirSync(userHosts) : [], [], `no per-user manifest in ${userHosts}`);
      assert.ok(!exists(path.join(home, '.config', 'chromium', 'NativeMessagingHosts')), 'no per-user manifest folder in HOME');
    };
    noUserManifest();

    const p = await browser.newPage();
    try {
      await p.setViewportSize({ width: 400, height: 600 });
      await p.goto(`chrome-extension://${EXT_ID}/popup/popup.html`);
      // The popup's check has answered (or failed) once 重新檢查 is enabled again.
      await p.locator('#again:not([disabled])').waitFor({ timeout: T.long });
      const state = await p.evaluate(() => document.body.dataset.state);
      const text = await h.bodyText(p);
      assert.doesNotMatch(text, /找不到 CardBridge 程式|CardBridge program was not found/, `the popup did not reach the host:\n${text}\n--- host.log\n${h.tail(hostLog)}`);
      assert.notEqual(state, 'error', `the popup shows an error:\n${text}`);
      // The host's check report: its ten items, the smart card service first.
      await p.locator('[data-overall]').waitFor({ timeout: T.short });
      const items = await p.locator('[data-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-item')));
      assert.equal(items.length, 10, `the host's check items: ${JSON.stringify(items)}`);
      for (const id of ['service', 'readers', 'card', 'clock']) assert.ok(items.includes(id), `item ${id} in ${JSON.stringify(items)}`);

      // The popup's status op: the host's version and protocol, and its
      // readers; without pcscd the host's PC/SC answer ERR_NO_SERVICE
      // instead (a host that is not reached is ERR_HOST_UNAVAILABLE).
      const status = await p.evaluate(() => chrome.runtime.sendMessage({ kind: 'popup', op: 'status' }));
      if (status?.result) {
        assert.equal(status.result.host.protocol, 1);
        const version = (await run(ON_PATH, ['version'])).stdout.trim();
        assert.equal(status.result.host.version, version, 'the version the installed program prints');
      } else {
        assert.equal(status?.error?.code, 'ERR_NO_SERVICE', `status: ${JSON.stringify(status)}`);
        assert.equal(items[0], 'service');
        assert.match(text, /智慧卡服務/);
      }

      // The host Chromium started is the installed program, started for our extension
      // (the port stays open for a minute after the last request).
      const procs = processesOf(INSTALLED_HOST);
      assert.ok(procs.some((x) => x.args.some((a) => a === `chrome-extension://${EXT_ID}/`)),
        `a ${INSTALLED_HOST} process started by Chromium for chrome-extension://${EXT_ID}/: ${JSON.stringify(procs)}`);
      assert.equal(processesOf(builtHost).length, 0, `no host from ${builtHost}`);
      noUserManifest();
    } finally {
      await p.close().catch(() => {});
      await browser.close();
      browser = undefined;
    }
  });

  step('cardbridge check and cardbridge version run from /usr/bin', async () => {
    const env = { ...process.env, HOME: path.join(tmp, 'home-cli'), CARDBRIDGE_CONFIG: '/nonexistent/cardbridge-e2e.json' };
    const v = await run(ON_PATH, ['version'], { env });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+/, `version: ${v.stdout}`);
    // Without a card (or without pcscd) the check runs, prints its ten items and fails: status 1.
    const c = await run(ON_PATH, ['check'], { env, timeout: T.medium });
    assert.ok(c.code === 0 || c.code === 1, `check exited ${c.code}:\n${c.stdout}\n${c.stderr}`);
    assert.match(c.stdout, /^ 1\. .*智慧卡服務 \/ Smart card service$/m, c.stdout);
    assert.match(c.stdout, /^10\. .*電腦時鐘 \/ Computer clock$/m, c.stdout);
    assert.match(c.stdout, /\n結果 Result: /, c.stdout);
    const json = await run(ON_PATH, ['check', '--json'], { env, timeout: T.medium });
    assert.equal(json.code, c.code, json.stderr);
    const rep = JSON.parse(json.stdout);
    assert.equal(rep.items.length, 10);
    assert.equal(rep.items[0].id, 'service');
    assert.match(rep.overall, /^(pass|warn|fail)$/);
    assert.equal(c.code, rep.overall === 'fail' ? 1 : 0, 'the status follows the overall result');
  });

  step('dpkg --purge cardbridge removes every file and folder the package added', async () => {
    await browser?.close(); // the browser (and the host it started) first
    browser = undefined;
    await h.waitFor(() => processesOf(INSTALLED_HOST).length === 0, { timeout: T.short, what: `no ${INSTALLED_HOST} process left` }).catch(() => {});
    const r = purgeNow();
    assert.equal(r.status, 0, `dpkg --purge cardbridge: ${r.output}`);
    const left = [...contents.files, ...newDirs, SYSTEM_CONFIG_DIR].filter(exists);
    assert.deepEqual(left, [], 'left after the purge');
    assert.ok(!exists(INSTALLED_HOST) && !exists(ON_PATH) && !exists(CHROMIUM_MANIFEST));
    assert.notEqual((await run('dpkg', ['-s', 'cardbridge'])).code, 0, 'dpkg knows no cardbridge package');
  });
});
