// @ts-check
/**
 * The service worker (Firefox: the background script): routes messages,
 * takes the page's origin from the browser, asks for consent, opens the
 * trusted PIN window and talks to the host over one native port.
 * The contract is docs/extension.md §2–§6.
 *
 * Nothing here logs: the PIN passes through pin-submit → host request and is
 * dropped; it is never stored, posted to a page or logged.
 */

import { CodedError, makeError, toWire } from "./codes.js";
import { Consent } from "./consent.js";
import { HOST_NAME, NativeHost } from "./native.js";

/**
 * The page actions and the argument keys each accepts (docs/extension.md §2).
 * @type {Readonly<Record<string, readonly string[]>>}
 */
export const PAGE_ACTIONS = Object.freeze({
  status: [],
  getCertificates: [],
  sign: ["certificateId", "hashAlgorithm", "digest", "data", "format", "nonce", "withCardSerial"],
  authenticate: ["challenge", "certificateId"],
  decrypt: ["ciphertext", "certificateId", "padding", "oaepHash"],
  changePin: ["certificateId"],
  checkEnvironment: [],
});

/** Page actions that need the site's consent. */
const CONSENT_ACTIONS = new Set(["getCertificates", "sign", "authenticate", "decrypt", "changePin"]);

/** The ops of the popup and the overlay (docs/extension.md §6.1). */
const LOCAL_OPS = new Set(["check", "certificates", "readers", "changePin", "status"]);

/** The largest page request, as JSON (docs/extension.md §1). */
export const MAX_PAGE_JSON = 6 * 1024 * 1024;

/** An unanswered PIN or consent window is cancelled after this long. */
export const SESSION_MS = 10 * 60 * 1000;

/** After the user cancels a window, that origin's next window waits this long (doubling, up to COOLDOWN_MAX_MS). */
export const COOLDOWN_MS = 30 * 1000;
export const COOLDOWN_MAX_MS = 5 * 60 * 1000;

/** The PIN window's size (docs/extension.md §5). */
const PIN_WINDOW = { width: 440, height: 560 };

/**
 * @typedef {import("./codes.js").WireError} WireError
 * @typedef {"sign" | "authenticate" | "decrypt" | "changePin" | "consent"} Mode
 */

/**
 * The part of runtime.MessageSender used here.
 * @typedef {object} Sender
 * @property {string} [id]
 * @property {string} [url]
 * @property {string} [origin]
 * @property {number} [frameId]
 * @property {{id?: number, windowId?: number}} [tab]
 */

/**
 * What the PIN window shows (the reply to pin-session).
 * @typedef {object} SessionView
 * @property {Mode} mode
 * @property {string | null} origin
 * @property {{id: string, info: Record<string, any>} | null} certificate
 * @property {{triesLeft: number, blocked: boolean, minLength: number, maxLength: number} | null} pinStatus
 * @property {boolean} [embedded] the request came from a frame other than the top one
 */

/**
 * @typedef {object} Session
 * @property {string} id
 * @property {SessionView} view
 * @property {number | undefined} tabId the requesting page's tab, if a page asked
 * @property {((secrets: {pin: string, newPin?: string}) => Promise<any>) | null} submit
 * @property {(v: any) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {number | null} windowId
 * @property {boolean} done
 * @property {boolean} busy
 * @property {ReturnType<typeof setTimeout> | undefined} timer
 * @property {() => void} release
 */

/**
 * The page's origin as the browser reported it: sender.origin, else the
 * origin of sender.url. Never anything the page wrote.
 * @param {Sender} sender
 * @returns {string | null}
 */
export function senderOrigin(sender) {
  if (typeof sender.origin === "string" && sender.origin !== "") return sender.origin;
  if (typeof sender.url !== "string") return null;
  try {
    return new URL(sender.url).origin;
  } catch {
    return null;
  }
}

/**
 * Whether a page at origin may use the card: https, or http on localhost or
 * 127.0.0.1 (development).
 * @param {string | null} origin
 * @returns {boolean}
 */
export function isAllowedOrigin(origin) {
  if (!origin || origin === "null") return false;
  let u;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (u.origin !== origin) return false;
  if (u.protocol === "https:") return true;
  return u.protocol === "http:" && isLoopbackHost(u.hostname);
}

/**
 * @param {string} hostname
 * @returns {boolean}
 */
function isLoopbackHost(hostname) {
  return hostname === "localhost" || hostname === "127.0.0.1";
}

/**
 * A plain object (not an array, not null).
 * @param {unknown} v
 * @returns {v is Record<string, any>}
 */
function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Picks the certificate an action uses and checks it fits, before any PIN is
 * typed (docs/extension.md §2).
 * @param {Mode} mode
 * @param {any[]} certificates the host's certificates list
 * @param {Record<string, any>} args the page's (or popup's) arguments
 * @returns {any | null} the certificate, or null (changePin by reader without certificates)
 */
export function chooseCertificate(mode, certificates, args) {
  const byId = (/** @type {unknown} */ id) => {
    const c = certificates.find((c) => c.id === id);
    if (!c) throw new CodedError("ERR_UNKNOWN_CERTIFICATE");
    return c;
  };
  const keyUsage = (/** @type {any} */ c) => (Array.isArray(c.info?.keyUsage) ? c.info.keyUsage : []);
  switch (mode) {
    case "sign": {
      if (args.certificateId === undefined) throw new CodedError("ERR_MISSING_ARGUMENT", { argument: "certificateId" });
      const c = byId(args.certificateId);
      const usage = c.info?.usage;
      if (usage !== "signature" && usage !== "signature+encryption") {
        throw new CodedError("ERR_CERTIFICATE_USAGE", { usage: String(usage) });
      }
      const raw = args.format === undefined || args.format === "raw";
      if (raw && String(c.info?.keyAlgorithm ?? "").startsWith("EC")) {
        throw new CodedError("ERR_UNSUPPORTED_ALGORITHM", { hint: "format cms" });
      }
      return c;
    }
    case "authenticate": {
      if (args.certificateId !== undefined) {
        const c = byId(args.certificateId);
        if (!keyUsage(c).includes("digitalSignature")) {
          throw new CodedError("ERR_CERTIFICATE_USAGE", { usage: String(c.info?.usage) });
        }
        return c;
      }
      const c = certificates.find((c) => keyUsage(c).includes("digitalSignature"));
      if (!c) throw new CodedError("ERR_UNKNOWN_CERTIFICATE");
      return c;
    }
    case "decrypt": {
      if (args.certificateId !== undefined) {
        const c = byId(args.certificateId);
        if (c.info?.usage !== "encryption") throw new CodedError("ERR_CERTIFICATE_USAGE", { usage: String(c.info?.usage) });
        return c;
      }
      const c = certificates.find((c) => c.info?.usage === "encryption");
      if (!c) throw new CodedError("ERR_UNKNOWN_CERTIFICATE");
      return c;
    }
    case "changePin": {
      if (args.certificateId !== undefined) return byId(args.certificateId);
      if (args.reader !== undefined) return certificates.find((c) => c.reader === args.reader) ?? null;
      return certificates[0] ?? null;
    }
    default:
      throw new CodedError("ERR_BAD_REQUEST");
  }
}

/**
 * The host's arguments for a PIN action: the caller's arguments, the chosen
 * certificate and the secrets from the PIN window.
 * @param {Exclude<Mode, "consent">} mode
 * @param {Record<string, any>} args
 * @param {any | null} cert
 * @param {{pin: string, newPin?: string}} secrets
 * @returns {Record<string, unknown>}
 */
export function hostArgs(mode, args, cert, secrets) {
  switch (mode) {
    case "sign":
      return { ...args, certificateId: cert.id, pin: secrets.pin };
    case "authenticate":
      return { certificateId: cert.id, challenge: args.challenge, pin: secrets.pin };
    case "decrypt": {
      /** @type {Record<string, unknown>} */
      const a = { certificateId: cert.id, ciphertext: args.ciphertext, pin: secrets.pin };
      if (args.padding !== undefined) a.padding = args.padding;
      if (args.oaepHash !== undefined) a.oaepHash = args.oaepHash;
      return a;
    }
    case "changePin": {
      /** @type {Record<string, unknown>} */
      const a = args.reader !== undefined && args.certificateId === undefined ? { reader: args.reader } : cert ? { certificateId: cert.id } : {};
      a.pin = secrets.pin;
      a.newPin = secrets.newPin;
      return a;
    }
  }
}

/**
 * Arguments a PIN action cannot go without; checked before the window opens.
 * @type {Readonly<Record<string, ReadonlyArray<string | string[]>>>}
 */
const REQUIRED = Object.freeze({
  sign: ["hashAlgorithm", ["digest", "data"]],
  authenticate: ["challenge"],
  decrypt: ["ciphertext"],
  changePin: [],
});

/**
 * @param {string} mode
 * @param {Record<string, any>} args
 */
function checkRequired(mode, args) {
  for (const r of REQUIRED[mode] ?? []) {
    const any = Array.isArray(r) ? r : [r];
    if (!any.some((k) => args[k] !== undefined)) throw new CodedError("ERR_MISSING_ARGUMENT", { argument: any.join("|") });
  }
}

/**
 * @typedef {object} BackgroundOptions
 * @property {NativeHost} [native]
 * @property {Consent} [consent]
 * @property {number} [sessionMs] default SESSION_MS
 * @property {() => string} [newId] session ids (crypto.randomUUID)
 * @property {() => number} [now] the clock (Date.now), for the cancel cooldown
 */

/**
 * Builds the background's handlers over a chrome object (the real one, or a
 * fake in tests). {@link start} registers them.
 * @param {any} chrome
 * @param {BackgroundOptions} [opts]
 */
export function createBackground(chrome, opts = {}) {
  const native =
    opts.native ??
    new NativeHost({
      connect: () => chrome.runtime.connectNative(HOST_NAME),
      lastError: () => chrome.runtime.lastError?.message,
    });
  const sessionMs = opts.sessionMs ?? SESSION_MS;
  const newId = opts.newId ?? (() => crypto.randomUUID());
  const now = opts.now ?? (() => Date.now());

  /** @type {Promise<string[]> | null} the host config's approvedOrigins, per connection */
  let hostConfig = null;
  native.onDisconnect(() => {
    hostConfig = null;
  });
  const hostApproved = () => {
    if (!hostConfig) {
      const p = native.request("config").then((r) => (Array.isArray(r.approvedOrigins) ? r.approvedOrigins : []));
      p.catch(() => {
        if (hostConfig === p) hostConfig = null;
      });
      hostConfig = p;
    }
    return hostConfig;
  };
  const consent =
    opts.consent ?? new Consent({ local: chrome.storage.local, managed: chrome.storage.managed, hostApproved });

  /** Page requests in flight, `${tabId}:${frameId}:${action}`. */
  const pendingPage = new Set();
  /** Extension-side changePin windows in flight, by kind. */
  const pendingLocal = new Set();
  /** @type {Map<string, Session>} */
  const sessions = new Map();
  /** @type {Map<string, Promise<boolean>>} one consent window per origin */
  const consentAsks = new Map();
  /** @type {Map<string, {until: number, ms: number}>} per origin, after the user cancelled a window */
  const cooldowns = new Map();

  /**
   * Throws unless a new window may open now: one window in the whole browser
   * (ERR_ACTION_PENDING), and none for an origin in its cancel cooldown
   * (ERR_USER_CANCELLED).
   * @param {string | null} origin
   */
  const mayOpenWindow = (origin) => {
    if (sessions.size > 0) throw new CodedError("ERR_ACTION_PENDING");
    const c = origin ? cooldowns.get(origin) : undefined;
    if (c && now() < c.until) throw new CodedError("ERR_USER_CANCELLED");
  };
  /** The user cancelled origin's window: start (or double) its cooldown. @param {string | null} origin */
  const startCooldown = (origin) => {
    if (!origin) return;
    const prev = cooldowns.get(origin);
    const ms = prev ? Math.min(prev.ms * 2, COOLDOWN_MAX_MS) : COOLDOWN_MS;
    cooldowns.set(origin, { until: now() + ms, ms });
  };

  const extensionBase = () => chrome.runtime.getURL("");

  /** @param {Sender} sender */
  const isExtensionPage = (sender) => typeof sender.url === "string" && sender.url.startsWith(extensionBase());

  /**
   * Handles one runtime message; resolves with the reply.
   * @param {unknown} message
   * @param {Sender} sender
   * @returns {Promise<any>}
   */
  async function handle(message, sender) {
    if (!isObject(message) || !sender || sender.id !== chrome.runtime.id) return fail("ERR_BAD_REQUEST");
    try {
      switch (message.kind) {
        case "page":
          return await handlePage(message, sender);
        case "popup":
          if (!isExtensionPage(sender)) return fail("ERR_BAD_REQUEST");
          return await handleLocal("popup", message);
        case "overlay":
          if (!(await overlayAllowed(sender))) return fail("ERR_INSECURE_CONTEXT");
          return await handleLocal("overlay", message);
        case "options":
          if (!isExtensionPage(sender)) return fail("ERR_BAD_REQUEST");
          return await handleOptions(message);
        case "pin-session":
        case "pin-submit":
        case "pin-cancel":
        case "pin-consent":
          if (!isExtensionPage(sender)) return fail("ERR_BAD_REQUEST");
          return await handlePin(message, sender);
        default:
          return fail("ERR_BAD_REQUEST");
      }
    } catch (err) {
      return { error: toWire(err) };
    }
  }

  /**
   * @param {Record<string, any>} message
   * @param {Sender} sender
   */
  async function handlePage(message, sender) {
    if (!sender.tab || typeof sender.tab.id !== "number" || isExtensionPage(sender)) return fail("ERR_BAD_REQUEST");
    const origin = senderOrigin(sender);
    if (!origin || !isAllowedOrigin(origin)) return fail("ERR_INSECURE_CONTEXT");
    const action = message.action;
    if (typeof action !== "string" || !Object.hasOwn(PAGE_ACTIONS, action)) return fail("ERR_BAD_REQUEST", { action: String(action).slice(0, 32) });
    const args = message.args ?? {};
    if (!isObject(args)) return fail("ERR_BAD_REQUEST", { argument: "args" });
    for (const k of Object.keys(args)) {
      if (!PAGE_ACTIONS[action].includes(k)) return fail("ERR_BAD_REQUEST", { argument: k.slice(0, 32) });
    }
    const size = JSON.stringify(args).length;
    if (size > MAX_PAGE_JSON) return fail("ERR_BAD_REQUEST", { size, limit: MAX_PAGE_JSON });

    const tabId = sender.tab.id;
    const frameId = typeof sender.frameId === "number" ? sender.frameId : 0;
    const key = `${tabId}:${frameId}:${action}`;
    if (pendingPage.has(key)) return fail("ERR_ACTION_PENDING");
    pendingPage.add(key);
    const requestId = typeof message.id === "string" && message.id.length <= 64 ? message.id : null;
    const notifyUser = () => {
      if (requestId === null) return;
      Promise.resolve()
        .then(() => chrome.tabs.sendMessage(tabId, { kind: "progress", id: requestId }, { frameId }))
        .catch(() => {});
    };
    try {
      return { result: await runPage(action, args, origin, { tabId, notifyUser, embedded: frameId !== 0 }) };
    } finally {
      pendingPage.delete(key);
    }
  }

  /**
   * @param {string} action
   * @param {Record<string, any>} args
   * @param {string} origin
   * @param {{tabId: number, notifyUser: () => void, embedded: boolean}} ctx
   */
  async function runPage(action, args, origin, ctx) {
    // Fail fast without a host, before any window opens.
    await native.connect();
    if (CONSENT_ACTIONS.has(action)) await ensureConsent(origin, ctx);
    switch (action) {
      case "status": {
        const [v, r] = await Promise.all([native.request("version", {}, origin), native.request("readers", {}, origin)]);
        /** @type {any[]} */
        let readers = r.readers;
        // Without consent a site learns only whether a card is in, not the reader names or ATRs.
        if ((await consent.decision(origin)) !== "allowed" && Array.isArray(readers)) {
          readers = readers.map((x) => ({ card: !!x?.card }));
        }
        return { extension: chrome.runtime.getManifest().version, host: { version: v.version, protocol: v.protocol }, readers };
      }
      case "checkEnvironment": {
        const report = await native.request("check", {}, origin);
        if ((await consent.decision(origin)) === "allowed") return report;
        // Without consent: the verdicts only, no details, readers, ATRs, certificates or PIN tries.
        const items = Array.isArray(report.items) ? report.items : [];
        return {
          overall: report.overall,
          items: items.map((/** @type {any} */ { id, title, result, fix }) => ({ id, title, result, fix })),
        };
      }
      case "getCertificates":
        return native.request("certificates", {}, origin);
      default:
        return runPinAction(/** @type {Exclude<Mode, "consent">} */ (action), args, origin, ctx);
    }
  }

  /**
   * Resolves when origin may use the card; asks the user once (one window per
   * origin even when several requests wait).
   * @param {string} origin
   * @param {{tabId: number, notifyUser: () => void, embedded: boolean}} ctx
   */
  async function ensureConsent(origin, ctx) {
    const d = await consent.decision(origin);
    if (d === "allowed") return;
    if (d === "denied") throw new CodedError("ERR_CONSENT_DENIED");
    let ask = consentAsks.get(origin);
    if (!ask) {
      mayOpenWindow(origin);
      ask = openSession({ mode: "consent", origin, certificate: null, pinStatus: null, embedded: ctx.embedded }, ctx.tabId, null);
      const p = ask;
      consentAsks.set(origin, p);
      p.finally(() => consentAsks.delete(origin)).catch(() => {});
    }
    ctx.notifyUser();
    if (!(await ask)) throw new CodedError("ERR_CONSENT_DENIED");
  }

  /**
   * Checks the certificate, reads the PIN tries, opens the PIN window and
   * resolves with the host's result of the first good PIN.
   * @param {Exclude<Mode, "consent">} mode
   * @param {Record<string, any>} args
   * @param {string | null} origin null when the extension asks for itself
   * @param {{tabId?: number, notifyUser?: () => void, embedded?: boolean}} ctx
   */
  async function runPinAction(mode, args, origin, ctx) {
    checkRequired(mode, args);
    mayOpenWindow(origin);
    const listed = await native.request("certificates", {}, origin);
    const cert = chooseCertificate(mode, Array.isArray(listed.certificates) ? listed.certificates : [], args);
    /** @type {Record<string, unknown>} */
    const where = cert ? { certificateId: cert.id } : args.reader !== undefined ? { reader: args.reader } : {};
    const st = await native.request("pinStatus", where, origin);
    ctx.notifyUser?.();
    /** @type {SessionView} */
    const view = {
      mode,
      origin,
      certificate: cert ? { id: cert.id, info: cert.info } : null,
      pinStatus: { triesLeft: st.triesLeft, blocked: st.blocked, minLength: st.minLength ?? 6, maxLength: st.maxLength ?? 8 },
      embedded: !!ctx.embedded,
    };
    // Checked again: another window may have opened while the host answered.
    mayOpenWindow(origin);
    const command = mode;
    return openSession(view, ctx.tabId, (secrets) => native.request(command, hostArgs(mode, args, cert, secrets), origin));
  }

  /**
   * Opens a PIN (or consent) window and resolves with its outcome.
   * @param {SessionView} view
   * @param {number | undefined} tabId
   * @param {Session["submit"]} submit null for consent
   * @returns {Promise<any>}
   */
  function openSession(view, tabId, submit) {
    return new Promise((resolve, reject) => {
      /** @type {Session} */
      const s = {
        id: newId(),
        view,
        tabId,
        submit,
        resolve,
        reject,
        windowId: null,
        done: false,
        busy: false,
        timer: undefined,
        release: native.hold(),
      };
      sessions.set(s.id, s);
      s.timer = setTimeout(() => finish(s, { error: new CodedError("ERR_ACTION_TIMEOUT") }, true), sessionMs);
      Promise.resolve()
        .then(() =>
          chrome.windows.create({ url: chrome.runtime.getURL(`pin/pin.html?session=${encodeURIComponent(s.id)}`), type: "popup", ...PIN_WINDOW }),
        )
        .then(
          (/** @type {any} */ w) => {
            s.windowId = typeof w?.id === "number" ? w.id : null;
            if (s.done) closeWindow(s);
          },
          (/** @type {unknown} */ err) => finish(s, { error: new CodedError("ERR_INTERNAL", { reason: String(err).slice(0, 200) }) }, false),
        );
    });
  }

  /**
   * Ends a session once: settles its promise and, if asked, closes its window.
   * @param {Session} s
   * @param {{result: any} | {error: Error}} outcome
   * @param {boolean} close
   */
  function finish(s, outcome, close) {
    if (s.done) return;
    s.done = true;
    clearTimeout(s.timer);
    sessions.delete(s.id);
    s.release();
    // A window answered (PIN accepted, or consent given or refused) ends the origin's cooldown.
    if ("result" in outcome && s.view.origin) cooldowns.delete(s.view.origin);
    if ("error" in outcome) s.reject(outcome.error);
    else s.resolve(outcome.result);
    if (close) closeWindow(s);
  }

  /** @param {Session} s */
  function closeWindow(s) {
    if (s.windowId === null) return;
    Promise.resolve()
      .then(() => chrome.windows.remove(s.windowId))
      .catch(() => {});
  }

  /** The error a closed window gives: the PIN was blocked, or the user cancelled. */
  const cancelError = (/** @type {Session} */ s) =>
    s.view.pinStatus?.blocked ? new CodedError("ERR_PIN_BLOCKED", { triesLeft: 0, reference: "PIN" }) : new CodedError("ERR_USER_CANCELLED");

  /** The user cancelled or closed s's window: its origin cools down. @param {Session} s */
  const userCancelled = (s) => {
    if (!s.done && !s.busy && cancelError(s).code === "ERR_USER_CANCELLED") startCooldown(s.view.origin);
  };

  /**
   * The PIN window's messages (docs/extension.md §5).
   * @param {Record<string, any>} message
   * @param {Sender} sender
   */
  async function handlePin(message, sender) {
    const s = typeof message.session === "string" ? sessions.get(message.session) : undefined;
    // Only the window opened for this session may speak for it.
    const url = chrome.runtime.getURL(`pin/pin.html?session=${encodeURIComponent(String(message.session))}`);
    if (!s || sender.url !== url || (s.windowId !== null && sender.tab?.windowId !== undefined && sender.tab.windowId !== s.windowId)) {
      return fail("ERR_BAD_REQUEST");
    }
    switch (message.kind) {
      case "pin-session":
        return s.view;
      case "pin-cancel":
        userCancelled(s);
        finish(s, { error: cancelError(s) }, true);
        return { ok: true };
      case "pin-consent": {
        if (s.view.mode !== "consent" || typeof message.allow !== "boolean" || !s.view.origin) return fail("ERR_BAD_REQUEST");
        await consent.remember(s.view.origin, message.allow);
        finish(s, { result: message.allow }, true);
        return { ok: true };
      }
      case "pin-submit":
        return submitPin(s, message);
    }
    return fail("ERR_BAD_REQUEST");
  }

  /**
   * @param {Session} s
   * @param {Record<string, any>} message
   */
  async function submitPin(s, message) {
    if (!s.submit || s.busy || s.view.pinStatus?.blocked) return fail("ERR_BAD_REQUEST");
    const { pin, newPin } = message;
    if (typeof pin !== "string" || pin.length === 0 || pin.length > 16) return fail("ERR_BAD_REQUEST");
    if (s.view.mode === "changePin" && (typeof newPin !== "string" || newPin.length === 0 || newPin.length > 16)) {
      return fail("ERR_BAD_REQUEST");
    }
    s.busy = true;
    try {
      const result = await s.submit(s.view.mode === "changePin" ? { pin, newPin } : { pin });
      finish(s, { result }, true);
      return { ok: true };
    } catch (err) {
      const e = toWire(err);
      if (s.done) return { error: e };
      if (e.code === "ERR_PIN_INCORRECT" || e.code === "ERR_PIN_FORMAT") {
        // The window stays; the user decides whether to try again.
        s.busy = false;
        const ps = s.view.pinStatus;
        if (ps && typeof e.details?.triesLeft === "number") ps.triesLeft = e.details.triesLeft;
        return { error: e, pinStatus: { triesLeft: ps?.triesLeft ?? -1, blocked: false } };
      }
      if (e.code === "ERR_PIN_BLOCKED" && s.view.pinStatus) {
        s.view.pinStatus.blocked = true;
        s.view.pinStatus.triesLeft = 0;
      }
      // Anything else ends the request; the window shows why.
      finish(s, { error: new CodedError(e.code, e.details, e) }, false);
      return { error: e, pinStatus: s.view.pinStatus ? { triesLeft: s.view.pinStatus.triesLeft, blocked: s.view.pinStatus.blocked } : undefined };
    }
  }

  /**
   * The popup's and the overlay's ops (docs/extension.md §6.1).
   * @param {"popup" | "overlay"} kind
   * @param {Record<string, any>} message
   */
  async function handleLocal(kind, message) {
    const op = message.op;
    const args = message.args ?? {};
    if (typeof op !== "string" || !LOCAL_OPS.has(op) || !isObject(args)) return fail("ERR_BAD_REQUEST");
    /** @type {Record<string, unknown>} */
    const reader = typeof args.reader === "string" ? { reader: args.reader } : {};
    switch (op) {
      case "check":
        return { result: await native.request("check", reader) };
      case "certificates":
        return { result: await native.request("certificates", reader) };
      case "readers":
        return { result: await native.request("readers") };
      case "status":
        return { result: await localStatus() };
      case "changePin": {
        const key = `${kind}:changePin`;
        if (pendingLocal.has(key)) return fail("ERR_ACTION_PENDING");
        /** @type {Record<string, any>} */
        const a = {};
        if (typeof args.certificateId === "string") a.certificateId = args.certificateId;
        else if (typeof args.reader === "string") a.reader = args.reader;
        pendingLocal.add(key);
        try {
          return { result: await runPinAction("changePin", a, null, {}) };
        } finally {
          pendingLocal.delete(key);
        }
      }
    }
    return fail("ERR_BAD_REQUEST");
  }

  async function localStatus() {
    const [v, r] = await Promise.all([native.request("version"), native.request("readers")]);
    /** @type {any[]} */
    const readers = Array.isArray(r.readers) ? r.readers : [];
    /** @type {{host: {version: string, protocol: number}, readers: any[], certificates: any[], certificatesError?: WireError}} */
    const out = { host: { version: v.version, protocol: v.protocol }, readers, certificates: [] };
    if (readers.some((x) => x.card)) {
      try {
        const c = await native.request("certificates");
        out.certificates = Array.isArray(c.certificates) ? c.certificates : [];
      } catch (err) {
        const e = toWire(err);
        if (e.code === "ERR_HOST_UNAVAILABLE") throw err;
        out.certificatesError = { code: e.code, message: e.message, messageZh: e.messageZh };
      }
    }
    return out;
  }

  /**
   * The overlay speaks only from content scripts on https pages, or on
   * localhost / 127.0.0.1 when the demo or a test turned that on.
   * @param {Sender} sender
   */
  async function overlayAllowed(sender) {
    if (!sender.tab || isExtensionPage(sender)) return false;
    const origin = senderOrigin(sender);
    if (!origin || !isAllowedOrigin(origin)) return false;
    if (origin.startsWith("https://")) return true;
    const v = await chrome.storage.local.get("overlayOnLocalhost");
    return v?.overlayOnLocalhost === true;
  }

  /**
   * The options page's ops (docs/extension.md §6.2).
   * @param {Record<string, any>} message
   */
  async function handleOptions(message) {
    switch (message.op) {
      case "listConsent":
        return { result: await consent.list() };
      case "revoke":
        if (typeof message.origin !== "string" || message.origin === "") return fail("ERR_BAD_REQUEST");
        return { result: { revoked: await consent.revoke(message.origin) } };
    }
    return fail("ERR_BAD_REQUEST");
  }

  /**
   * runtime.onMessage listener: replies asynchronously.
   * @param {unknown} message
   * @param {Sender} sender
   * @param {(reply: any) => void} sendResponse
   * @returns {true}
   */
  function onMessage(message, sender, sendResponse) {
    handle(message, sender).then(sendResponse, (err) => sendResponse({ error: toWire(err) }));
    return true;
  }

  /** @param {number} windowId */
  function onWindowRemoved(windowId) {
    for (const s of [...sessions.values()]) {
      if (s.windowId === windowId) {
        userCancelled(s);
        finish(s, { error: cancelError(s) }, false);
      }
    }
  }

  /** @param {number} tabId */
  function onTabRemoved(tabId) {
    for (const s of [...sessions.values()]) {
      if (s.tabId === tabId) finish(s, { error: new CodedError("ERR_USER_CANCELLED") }, true);
    }
  }

  return { handle, onMessage, onWindowRemoved, onTabRemoved, native, consent, sessions };
}

/**
 * An error reply.
 * @param {string} code
 * @param {Record<string, unknown>} [details]
 * @returns {{error: WireError}}
 */
function fail(code, details) {
  return { error: makeError(code, details) };
}

/**
 * Registers the listeners, synchronously, as a service worker must.
 * @param {any} chrome
 */
export function start(chrome) {
  const bg = createBackground(chrome);
  chrome.runtime.onMessage.addListener(bg.onMessage);
  chrome.windows.onRemoved.addListener(bg.onWindowRemoved);
  chrome.tabs.onRemoved.addListener(bg.onTabRemoved);
  return bg;
}

const g = /** @type {any} */ (globalThis);
if (g.chrome?.runtime?.id && g.chrome.runtime.connectNative) start(g.chrome);
