// @ts-check
// End-to-end fixture for the 公文 exchange (docs/exchange.md): on top of
// pcscd (harness.mjs), two agencies' virtual TEST cards of one TEST CA, one
// in each vpcd reader, the real exchange centre (out/cardbridge-centre, on
// SQLite, loopback, both agencies registered, an announcement posted), one
// exchange home per agency (`cardbridge exchange setup`), and, when CUPS and
// cups-pdf are installed, a private cupsd with the cups-pdf printer.
//
//   import { startExchange } from './exchange-fixture.mjs';
//   const ex = await startExchange();
//   const [bureau, kindergarten] = ex.agencies;
//   await bureau.exchange('send', ['--to', kindergarten.code, '--subject', '…', '--body', file], { pin: true });
//   // a browser for the kindergarten: its host (and the agent the host
//   // starts) finds the agency's home through XDG_DATA_HOME:
//   const s = await launchChromium(ex.browserOptions(kindergarten));
//   // = { parentDir: ex.tmp, config: ex.config, env: kindergarten.env, name: 'chromium-kindergarten' }
//   …
//   await ex.stop();
//
// It uses both vpcd slots (Virtual PCD 00 00 and 00 01): do not run it
// beside another e2e file or the Go integration tests. E2E_KEEP=1 keeps the
// temporary folder (centre.log, each card's card.log, pcscd.log).

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  ROOT, HOST_BIN, SOFTCARD_BIN, PIN, T, SoftCard,
  waitFor, tail, buildHost, buildSoftcard, ensurePcscd, stopPcscd, startProc, stopProc,
} from './harness.mjs';

const execFileP = promisify(execFile);

/** Why an exchange test cannot run here (pcscd or vpcd missing), or "". */
export function pcscMissing() {
  for (const [f, pkg] of [['/usr/sbin/pcscd', 'pcscd'], ['/etc/reader.conf.d/vpcd', 'vsmartcard-vpcd'], ['/usr/lib/pcsc/drivers/serial/libifdvpcd.so', 'vsmartcard-vpcd']]) {
    if (!fs.existsSync(f)) return `${f} is missing: apt-get install ${pkg} (or make deps)`;
  }
  return '';
}

/** The agent `cardbridge exchange …` starts (from beside out/cardbridge). */
export const EXCHANGE_BIN = path.join(ROOT, 'out', 'cardbridge-exchange');
/** The reference exchange centre. */
export const CENTRE_BIN = path.join(ROOT, 'out', 'cardbridge-centre');

/** pcscd's vpcd readers: slot 0 and slot 1 (/etc/reader.conf.d/vpcd, internal/integration/harness_test.go). */
export const SLOTS = [
  { vpcd: '127.0.0.1:35963', reader: 'Virtual PCD 00 00' },
  { vpcd: '127.0.0.1:35964', reader: 'Virtual PCD 00 01' },
];

/**
 * An agency of the fixture: its 全銜, 統一編號 (機關代碼 XC + 統一編號) and
 * card number; key names the agency's folder.
 * @typedef {{key: string, name: string, ubn: string, serial: string}} Who
 */

/** @type {Who} 發文: the city's education bureau. */
export const BUREAU = { key: 'bureau', name: '測試市教育局', ubn: '10458570', serial: 'TESTEXC000000001' };
/** @type {Who} 收文: a kindergarten (the Go tests' TEST card's 統一編號). */
export const KINDERGARTEN = { key: 'kindergarten', name: '測試幼兒園', ubn: '04595252', serial: 'TESTEXC000000002' };

/** The announcement the centre posts. */
export const ANNOUNCEMENT = '系統公告：本中心將於 12 月 31 日 22:00 至 24:00 進行例行維護。';

/** The private CUPS server's cups-pdf printer (internal/exchange/printer/cupstest). */
export const PRINTER = 'CardBridgePDF';

/**
 * Whether ubn is a 統一編號 under the rule in force since 2023 (weights
 * 1,2,1,2,1,2,4,1; the digit sum divisible by 5; a 7th digit 7 may count
 * one more), as internal/certinfo/ubn.go.
 * @param {string} ubn
 */
export function validUBN(ubn) {
  if (!/^[0-9]{8}$/.test(ubn)) return false;
  const w = [1, 2, 1, 2, 1, 2, 4, 1];
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const p = Number(ubn[i]) * w[i];
    sum += Math.floor(p / 10) + (p % 10);
  }
  return sum % 5 === 0 || (ubn[6] === '7' && (sum + 1) % 5 === 0);
}

/** @param {string} msg */
function log(msg) {
  if (process.env.E2E_QUIET !== '1') process.stderr.write(`[e2e exchange] ${msg}\n`);
}

// ---------------------------------------------------------------- build

/** Builds out/cardbridge-exchange (Go rewrites it only when stale). */
export async function buildExchange() {
  await execFileP('go', ['build', '-o', EXCHANGE_BIN, './cmd/cardbridge-exchange'], { cwd: ROOT, timeout: 300_000 });
  return EXCHANGE_BIN;
}

/** Builds out/cardbridge-centre without cgo, as the Makefile does. */
export async function buildCentre() {
  await execFileP('go', ['build', '-o', CENTRE_BIN, './cmd/cardbridge-centre'], { cwd: ROOT, timeout: 300_000, env: { ...process.env, CGO_ENABLED: '0' } });
  return CENTRE_BIN;
}

// ---------------------------------------------------------------- commands

/**
 * @typedef {{code: number | null, stdout: string, stderr: string}} RunResult
 */

/**
 * Runs a program with stdin, collecting its output.
 * @param {string} bin @param {string[]} args
 * @param {{input?: string, env?: NodeJS.ProcessEnv, timeout?: number, check?: boolean}} [o]
 * @returns {Promise<RunResult>}
 */
export function run(bin, args, { input = '', env = process.env, timeout = T.long, check = true } = {}) {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => c.kill('SIGKILL'), timeout);
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code, stdout, stderr };
      if (check && code !== 0) {
        reject(new Error(`${path.basename(bin)} ${args.join(' ')}: exit ${code ?? signal}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      } else resolve(r);
    });
    c.stdin.on('error', () => {}); // a program that exits without reading its input
    c.stdin.end(input);
  });
}

/** The CLI with no user configuration in the way. @param {string} config */
function cliEnv(config) {
  return { ...process.env, CARDBRIDGE_CONFIG: config };
}

/** The certificate blocks of a PEM file (the TEST CA's file also holds its keys). @param {string} pem */
function certificateBlocks(pem) {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) || []).map((b) => b.endsWith('\n') ? b : b + '\n');
}

// ---------------------------------------------------------------- cards

/**
 * A TEST card of one agency in one vpcd reader: the harness's SoftCard
 * (remove, insert, removeOn, delayOn, status, reset) with its own reader,
 * organisation and the fixture's shared TEST CA.
 */
export class AgencyCard extends SoftCard {
  /**
   * @param {string} dir the card's folder
   * @param {{ca: string, vpcd: string, reader: string, who: Who, config: string}} o
   */
  constructor(dir, { ca, vpcd, reader, who, config }) {
    super(dir);
    this.ca = ca;
    this.vpcd = vpcd;
    this.reader = reader;
    this.who = who;
    this.config = config;
  }

  /** Issues the card (PIN 123456, PUK 12345678) from the shared TEST CA. */
  async issue() {
    await run(SOFTCARD_BIN, ['issue', '--state', this.pristine, '--ca', this.ca,
      '--org', this.who.name, '--ubn', this.who.ubn, '--org-code', '', '--serial', this.who.serial], { timeout: 30_000 });
    await fsp.copyFile(this.pristine, this.state);
  }

  /** Serves the card on its vpcd slot and waits until PC/SC sees it. */
  async start() {
    fs.rmSync(this.controlFile, { force: true });
    this.proc = startProc(SOFTCARD_BIN, ['serve', '--state', this.state, '--vpcd', this.vpcd,
      '--control', '127.0.0.1:0', '--control-file', this.controlFile], { logFile: this.logFile });
    const proc = this.proc;
    this.addr = String(await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`cardbridge-softcard serve exited ${proc.exitCode}:\n${tail(this.logFile)}`);
      return fs.existsSync(this.controlFile) && fs.readFileSync(this.controlFile, 'utf8').trim();
    }, { timeout: T.short, what: `the control address of ${this.who.name}'s card` }));
    await this.waitPresent(true);
  }

  /** Whether PC/SC shows this card's reader with (present) or without a card. @param {boolean} present */
  async present(present) {
    const r = await run(HOST_BIN, ['readers', '--json'], { env: cliEnv(this.config), timeout: 30_000 });
    const reader = (JSON.parse(r.stdout).readers || []).find((/** @type {any} */ x) => x.name === this.reader);
    return !!reader && !!reader.card === present;
  }

  /** @param {boolean} present */
  async waitPresent(present) {
    await waitFor(() => this.present(present), { timeout: T.medium, interval: 150, what: `${this.reader} ${present ? 'with' : 'without'} ${this.who.name}'s card (is vpcd ${this.vpcd} free?)` });
  }

  /** The card's certificates as `cardbridge certs --pem` prints them. */
  async certificatesPEM() {
    const r = await run(HOST_BIN, ['certs', '--pem', '--reader', this.reader], { env: cliEnv(this.config), timeout: 30_000 });
    return r.stdout;
  }
}

// ---------------------------------------------------------------- centre

/**
 * The reference centre as its operator runs it: `agency add`, `announce`
 * and `serve` on a SQLite database.
 */
export class Centre {
  /** @param {string} dir @param {string} roots @param {string} config */
  constructor(dir, roots, config) {
    this.dir = dir;
    this.roots = roots;
    this.config = config;
    this.dbFile = path.join(dir, 'centre.db');
    this.db = `sqlite:${this.dbFile}`;
    this.logFile = path.join(dir, 'centre.log');
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    /** http://127.0.0.1:PORT, the origin agents log in to; set by the first start(). */
    this.url = '';
  }

  /** Runs an operator's command on the database. @param {string[]} args */
  async command(...args) {
    return (await run(CENTRE_BIN, [...args, '--db', this.db], { timeout: 60_000 })).stdout;
  }

  /** `agency add` with the PEM of the agency's certificates. @param {string} code @param {string} name @param {string} certFile */
  async addAgency(code, name, certFile) {
    return this.command('agency', 'add', '--code', code, '--name', name, '--cert', certFile);
  }

  /** Posts an announcement (agents read it with `exchange announcements`). @param {string} text */
  async announce(text) {
    return this.command('announce', '--text', text);
  }

  /**
   * Serves on 127.0.0.1: a free port the first time, the same one after
   * (the agents' homes hold the URL), and waits until it answers.
   */
  async start() {
    if (this.proc && this.proc.exitCode === null) return;
    const listen = this.url ? new URL(this.url).host : '127.0.0.1:0';
    const from = fs.existsSync(this.logFile) ? fs.statSync(this.logFile).size : 0;
    const proc = startProc(CENTRE_BIN, ['serve', '--db', this.db, '--roots', this.roots, '--listen', listen], { logFile: this.logFile });
    this.proc = proc;
    const origin = String(await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`cardbridge-centre serve exited ${proc.exitCode}:\n${tail(this.logFile)}`);
      const m = /listening on \S+ \(origin (http:\/\/[^)\s]+)\)/.exec(fs.readFileSync(this.logFile, 'utf8').slice(from));
      return m && m[1];
    }, { timeout: T.short, what: 'the centre to listen' }));
    this.url = origin;
    // Any answer will do (the directory needs a login): the server is up.
    await waitFor(async () => (await fetch(`${origin}/v1/directory`, { signal: AbortSignal.timeout(5000) })).status > 0, { timeout: T.short, what: 'the centre to answer' });
  }

  /** Stops the server (SIGTERM); the database stays. */
  async stop() {
    await stopProc(this.proc);
    this.proc = null;
  }
}

// ---------------------------------------------------------------- CUPS

/**
 * A private cupsd with the cups-pdf printer "CardBridgePDF", as
 * internal/exchange/printer/cupstest starts it for the Go tests: its own
 * configuration, spool and socket in a folder of its own (mode 0755: the
 * filters run as lp), reached through CUPS_SERVER = socket. cups-pdf writes
 * every job to its system Out folder (root's: /root/PDF), named by job
 * numbers each server counts from 1, so it holds the Go tests' lock on
 * $TMPDIR/cardbridge-cupstest.lock while it runs.
 */
export class Cups {
  /** @param {string} dir */
  constructor(dir) {
    this.dir = dir;
    this.socket = path.join(dir, 'cups.sock');
    this.errorLog = path.join(dir, 'log', 'error_log');
    this.logFile = path.join(dir, 'cupsd.log');
    this.printer = PRINTER;
    this.out = Cups.outFolder();
    /** @type {import('node:child_process').ChildProcess | null} */
    this.proc = null;
    /** @type {import('node:child_process').ChildProcessWithoutNullStreams | null} */
    this.lock = null;
    /** @type {Set<string>} */
    this.before = new Set();
    this.lockWaitMs = 0;
  }

  /** Why a private cupsd cannot run here, or '' when it can. */
  static unavailable() {
    if (process.getuid && process.getuid() !== 0) return 'a private cupsd needs root';
    for (const f of ['/usr/sbin/cupsd', '/usr/sbin/lpadmin', '/usr/lib/cups/backend/cups-pdf', '/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd', '/usr/bin/flock']) {
      if (!fs.existsSync(f)) return `${f} is missing (Debian packages cups, printer-driver-cups-pdf, util-linux)`;
    }
    return '';
  }

  /** Where cups-pdf writes root's jobs (/etc/cups/cups-pdf.conf Out). */
  static outFolder() {
    let out = '${HOME}/PDF';
    try {
      for (const line of fs.readFileSync('/etc/cups/cups-pdf.conf', 'utf8').split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f.length === 2 && f[0] === 'Out') out = f[1];
      }
    } catch {}
    return out.replaceAll('${HOME}', '/root').replaceAll('${USER}', 'root');
  }

  /** The cupsd configuration's environment for lpadmin, lp and the agent. */
  get env() {
    return { CUPS_SERVER: this.socket };
  }

  async start() {
    // The Go tests' lock, held by a process of our own: flock --no-fork
    // becomes `cat`, which keeps the lock until its input ends (stop(), or
    // this process dying closes the pipe).
    const lockFile = path.join(os.tmpdir(), 'cardbridge-cupstest.lock');
    const lock = spawn('/usr/bin/flock', ['--no-fork', '--exclusive', '--wait', String(T.long / 1000), lockFile, 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.lock = lock;
    let said = '';
    lock.stdout.setEncoding('utf8').on('data', (d) => { said += d; });
    lock.stderr.setEncoding('utf8').on('data', (d) => { said += d; });
    lock.stdin.on('error', () => {});
    lock.stdin.write('locked\n');
    const t0 = Date.now();
    const slow = setTimeout(() => log(`waiting for ${lockFile}: a Go test printing through cups-pdf holds it`), 2000);
    await waitFor(() => {
      if (lock.exitCode !== null) throw new Error(`flock ${lockFile}: exit ${lock.exitCode} ${said}`);
      return said.includes('locked');
    }, { timeout: T.long + 5000, what: `the cups-pdf lock ${lockFile} (a Go printing test running?)` }).finally(() => clearTimeout(slow));
    /** How long the lock took (ms). */
    this.lockWaitMs = Date.now() - t0;

    for (const f of fs.existsSync(this.out) ? fs.readdirSync(this.out) : []) this.before.add(f);
    await fsp.chmod(this.dir, 0o755);
    const etc = path.join(this.dir, 'etc');
    for (const d of [etc, path.join(etc, 'ppd'), path.join(this.dir, 'spool', 'tmp'), path.join(this.dir, 'cache'), path.join(this.dir, 'state'), path.join(this.dir, 'log')]) {
      await fsp.mkdir(d, { recursive: true, mode: 0o755 });
    }
    await fsp.writeFile(path.join(etc, 'cupsd.conf'), `Listen ${this.socket}
LogLevel warn
WebInterface No
Browsing Off
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
`);
    const d = this.dir;
    await fsp.writeFile(path.join(etc, 'cups-files.conf'), `ServerRoot ${d}/etc
RequestRoot ${d}/spool
TempDir ${d}/spool/tmp
CacheDir ${d}/cache
StateDir ${d}/state
ErrorLog ${d}/log/error_log
AccessLog ${d}/log/access_log
PageLog ${d}/log/page_log
ServerBin /usr/lib/cups
DataDir /usr/share/cups
SystemGroup root
`);
    const proc = startProc('/usr/sbin/cupsd', ['-f', '-c', path.join(etc, 'cupsd.conf'), '-s', path.join(etc, 'cups-files.conf')], { logFile: this.logFile });
    this.proc = proc;
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`cupsd exited ${proc.exitCode}:\n${tail(this.logFile)}\n${tail(this.errorLog)}`);
      return fs.existsSync(this.socket);
    }, { timeout: T.short, what: 'the private cupsd socket' });
    const env = { ...process.env, ...this.env };
    await run('/usr/sbin/lpadmin', ['-p', PRINTER, '-E', '-v', 'cups-pdf:/', '-P', '/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd'], { env, timeout: 60_000 });
    // The server's default printer, so that an agent with a blank printer setting prints to it.
    await run('/usr/sbin/lpadmin', ['-d', PRINTER], { env, timeout: 60_000 });
  }

  /**
   * Waits for cups-pdf's file of a job ("CardBridgePDF-N", as `exchange
   * print --json` names it); stop() removes it.
   * @param {string} job
   */
  async waitPDF(job, timeout = 60_000) {
    const n = job.slice(job.lastIndexOf('-') + 1);
    const file = await waitFor(() => {
      const found = fs.existsSync(this.out) ? fs.readdirSync(this.out).filter((f) => f.endsWith(`job_${n}.pdf`) && !this.before.has(f)) : [];
      return found.length === 1 ? path.join(this.out, found[0]) : '';
    }, { timeout, interval: 200, what: `cups-pdf's file of job ${job} in ${this.out}` });
    // Written whole: its size holds still.
    let size = -1;
    await waitFor(() => {
      const s = fs.statSync(file).size;
      const still = s > 0 && s === size;
      size = s;
      return still;
    }, { timeout: T.short, interval: 300, what: `${file} written whole` });
    return file;
  }

  async stop() {
    await stopProc(this.proc);
    this.proc = null;
    if (fs.existsSync(this.out)) {
      for (const f of fs.readdirSync(this.out)) {
        if (!this.before.has(f)) fs.rmSync(path.join(this.out, f), { force: true });
      }
    }
    if (this.lock) {
      const lock = this.lock;
      this.lock = null;
      if (lock.exitCode === null) {
        const exited = new Promise((r) => lock.once('exit', r));
        lock.stdin.end();
        const t = setTimeout(() => lock.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    }
    await fsp.rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

// ---------------------------------------------------------------- the fixture

/**
 * @typedef {object} Agency
 * @property {string} key  'bureau', 'kindergarten' (Who.key): its folder in tmp
 * @property {string} code  機關代碼, XC + 統一編號
 * @property {string} name  全銜 (the card's organisation, the centre's directory name)
 * @property {string} ubn
 * @property {string} reader  its card's reader ("Virtual PCD 00 00" / "Virtual PCD 00 01")
 * @property {string} vpcd  its card's vpcd address
 * @property {string} dataHome  XDG_DATA_HOME for its browser profile (and CLI)
 * @property {string} home  its exchange home, dataHome/cardbridge/exchange
 * @property {string} archive  its 收文 folder
 * @property {string} certs  its card's certificates (PEM, as registered at the centre)
 * @property {Record<string, string>} env  the environment its browser is launched with: XDG_DATA_HOME, and CUPS_SERVER when printing is up
 * @property {AgencyCard} card  remove(), insert(), removeOn(ins), delayOn(ins, ms), status(), reset()
 * @property {(sub: string, args?: string[], o?: {pin?: boolean | string, input?: string, check?: boolean, timeout?: number, env?: Record<string, string>}) => Promise<RunResult>} exchange
 *   `cardbridge exchange SUB --home HOME --reader READER ARGS…`; pin: true
 *   (123456) or a PIN adds --pin-stdin and types it; check (default true)
 *   throws on a non-zero exit.
 */

/**
 * @typedef {object} Exchange
 * @property {string} tmp
 * @property {string} centreUrl  http://127.0.0.1:PORT
 * @property {Centre} centre  stop(), start() (same port), announce(text), command(...args), db, logFile
 * @property {Agency[]} agencies  in the order given: [bureau, kindergarten] by default
 * @property {string} roots  the TEST CA's root and issuing certificates (PEM)
 * @property {string} ca  the TEST CA with its keys (cardbridge-softcard issue --ca: more cards of the same CA)
 * @property {string} config  CARDBRIDGE_CONFIG for hosts and CLI runs (logs to hostLog)
 * @property {string} hostLog
 * @property {string} announcement  the text posted ('' when none)
 * @property {Cups | null} cups  the private CUPS (socket, printer, out, env, waitPDF(job)); null when unavailable
 * @property {string} cupsWhy  why there is no CUPS
 * @property {number} startedInMs
 * @property {Record<string, number>} timings  ms per phase: build, cards (pcscd, CA, both cards), centre, cups (with cupsLockWait), homes
 * @property {(code: string) => Agency} agency  the agency of a 機關代碼
 * @property {(a: Agency, o?: {lang?: string, overlay?: boolean}) => {parentDir: string, config: string, env: Record<string, string>, name: string, lang?: string, overlay?: boolean}} browserOptions
 *   harness.launchChromium's options for the agency's own profile: its
 *   host, and the `cardbridge-exchange exchange serve` the host starts,
 *   inherit env (XDG_DATA_HOME → its home; CUPS_SERVER)
 * @property {(tag?: string) => string} logs
 * @property {() => Promise<void>} stop
 */

/**
 * Starts pcscd (unless one runs), two agencies' TEST cards in the two vpcd
 * readers, the centre with both registered and an announcement, an
 * exchange home per agency and, when cups is true and CUPS is installed,
 * a private CUPS. Everything it started is stopped by stop() (and killed
 * if node exits first).
 * @param {{tmp?: string, agencies?: Who[], announcement?: string, cups?: boolean}} [o]
 *   tmp: a folder to work in (kept; default a new temporary folder, removed
 *   by stop() unless E2E_KEEP=1); agencies: two (one per reader), default
 *   [BUREAU, KINDERGARTEN]; announcement: '' posts none; cups: false leaves
 *   printing out.
 * @returns {Promise<Exchange>}
 */
export async function startExchange({ tmp, agencies = [BUREAU, KINDERGARTEN], announcement = ANNOUNCEMENT, cups = true } = {}) {
  const started = Date.now();
  if (agencies.length < 1 || agencies.length > SLOTS.length) throw new Error(`startExchange: 1 to ${SLOTS.length} agencies, one per vpcd reader`);
  for (const a of agencies) {
    if (!validUBN(a.ubn)) throw new Error(`startExchange: ${a.name}'s 統一編號 ${a.ubn} fails its check digit`);
  }
  const ownTmp = !tmp;
  const dir = tmp || await fsp.mkdtemp(path.join(os.tmpdir(), 'cardbridge-exchange-'));
  await fsp.mkdir(dir, { recursive: true });
  /** @type {Array<() => Promise<void>>} */
  const stops = [];
  let startedPcscd = false;
  const stop = async () => {
    for (const f of stops.reverse()) {
      try {
        await f();
      } catch (e) {
        log(`cleanup: ${e}`);
      }
    }
    stops.length = 0;
    if (startedPcscd) await stopPcscd();
    startedPcscd = false;
    if (!ownTmp) return;
    if (process.env.E2E_KEEP === '1') log(`kept ${dir}`);
    else await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  /** @type {Cups | null} */
  let printer = null;
  const cupsWhy = cups ? Cups.unavailable() : 'not asked for (cups: false)';
  /** @type {Record<string, number>} */
  const timings = {};
  let mark = Date.now();
  const lap = (/** @type {string} */ what) => {
    const now = Date.now();
    timings[what] = now - mark;
    mark = now;
  };
  /** @type {AgencyCard[]} */
  const cards = [];
  /** @type {Centre | null} */
  let centre = null;
  try {
    log('building out/cardbridge, out/cardbridge-exchange, out/cardbridge-centre, out/cardbridge-softcard');
    await buildHost();
    await buildExchange();
    await buildCentre();
    await buildSoftcard();
    lap('build');
    startedPcscd = await ensurePcscd(path.join(dir, 'pcscd.log'));

    const hostLog = path.join(dir, 'host.log');
    const config = path.join(dir, 'config.json');
    await fsp.writeFile(config, JSON.stringify({ logLevel: 'debug', logFile: hostLog }));

    // One TEST CA for both cards; agents and the centre trust its root and issuing CA.
    const ca = path.join(dir, 'testca.pem');
    await run(SOFTCARD_BIN, ['ca', '--out', ca], { timeout: 30_000 });
    const roots = path.join(dir, 'roots.pem');
    const blocks = certificateBlocks(await fsp.readFile(ca, 'utf8'));
    if (blocks.length !== 2) throw new Error(`${ca}: ${blocks.length} certificates, want the root and the issuing CA`);
    await fsp.writeFile(roots, blocks.join(''));

    const codes = agencies.map((a) => `XC${a.ubn}`);
    for (const [i, who] of agencies.entries()) {
      const card = new AgencyCard(path.join(dir, who.key, 'card'), { ca, vpcd: SLOTS[i].vpcd, reader: SLOTS[i].reader, who, config });
      await fsp.mkdir(card.dir, { recursive: true });
      await card.issue();
      await card.start();
      stops.push(() => card.stop());
      cards.push(card);
    }
    lap('cards');

    // The centre: each agency registered with the PEM `cardbridge certs --pem` prints on its PC.
    const c = new Centre(path.join(dir, 'centre'), roots, config);
    centre = c;
    await fsp.mkdir(c.dir, { recursive: true });
    /** @type {string[]} */
    const certFiles = [];
    for (const [i, card] of cards.entries()) {
      const pem = await card.certificatesPEM();
      const file = path.join(dir, agencies[i].key, 'certs.pem');
      await fsp.writeFile(file, pem);
      certFiles.push(file);
      await c.addAgency(codes[i], agencies[i].name, file);
    }
    if (announcement) await c.announce(announcement);
    await c.start();
    stops.push(() => c.stop());
    lap('centre');

    if (!cupsWhy) {
      const p = new Cups(await fsp.mkdtemp(path.join(os.tmpdir(), 'cardbridge-cups-')));
      stops.push(() => p.stop());
      await p.start();
      printer = p;
      lap('cups');
      timings.cupsLockWait = p.lockWaitMs;
    }

    /** @type {Agency[]} */
    const list = [];
    for (const [i, who] of agencies.entries()) {
      const dataHome = path.join(dir, who.key, 'data');
      const home = path.join(dataHome, 'cardbridge', 'exchange');
      const archive = path.join(dir, who.key, '收文');
      /** @type {Record<string, string>} */
      const env = { XDG_DATA_HOME: dataHome, ...(printer ? printer.env : {}) };
      const reader = SLOTS[i].reader;
      /** @type {Agency['exchange']} */
      const exchange = (sub, args = [], o = {}) => {
        const pin = o.pin === true ? PIN : o.pin || '';
        return run(HOST_BIN, ['exchange', sub, '--home', home, '--reader', reader, ...(pin ? ['--pin-stdin'] : []), ...args], {
          input: pin ? `${pin}\n${o.input || ''}` : o.input || '',
          env: { ...cliEnv(config), ...env, ...o.env },
          check: o.check ?? true,
          timeout: o.timeout,
        });
      };
      const a = { key: who.key, code: codes[i], name: who.name, ubn: who.ubn, reader, vpcd: SLOTS[i].vpcd, dataHome, home, archive, certs: certFiles[i], env, card: cards[i], exchange };
      await fsp.mkdir(dataHome, { recursive: true });
      await exchange('setup', ['--centre', c.url, '--agency', a.code, '--roots', roots, '--archive', archive]);
      list.push(a);
    }
    lap('homes');

    const logs = (tag = '') => [
      `--- ${tag} centre.log`, tail(c.logFile, 25),
      ...cards.flatMap((k) => [`--- ${k.who.key} card.log`, tail(k.logFile, 10)]),
      '--- host.log', tail(hostLog, 20),
      ...(printer ? ['--- cups error_log', tail(printer.errorLog, 10)] : []),
      '--- pcscd.log', tail(path.join(dir, 'pcscd.log'), 4).slice(-2000),
    ].join('\n');
    const startedInMs = Date.now() - started;
    log(`up in ${startedInMs} ms (${Object.entries(timings).map(([k, v]) => `${k} ${v}`).join(', ')}): centre ${c.url}; ${list.map((a) => `${a.name} ${a.code} in ${a.reader}`).join('; ')}; printing ${printer ? `CUPS_SERVER=${printer.socket}` : `off (${cupsWhy})`}`);
    return {
      tmp: dir, centreUrl: c.url, centre: c, agencies: list, roots, ca, config, hostLog,
      announcement: announcement || '', cups: printer, cupsWhy: printer ? '' : cupsWhy, startedInMs, timings,
      agency: (code) => {
        const a = list.find((x) => x.code === code);
        if (!a) throw new Error(`no agency ${code}`);
        return a;
      },
      browserOptions: (a, o = {}) => ({ parentDir: dir, config, env: a.env, name: `chromium-${a.key}`, ...o }),
      logs, stop,
    };
  } catch (e) {
    const why = centre ? tail(centre.logFile, 15) : '';
    await stop();
    if (why && e instanceof Error) e.message += `\n--- centre.log\n${why}`;
    throw e;
  }
}
