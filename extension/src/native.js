// @ts-check
/**
 * The native port to the CardBridge host (docs/extension.md §4,
 * docs/protocol.md §1.3): one persistent port, opened lazily, integer request
 * ids from 1, a hello handshake with a timeout, replies matched by id, every
 * pending request failed with ERR_HOST_UNAVAILABLE when the port goes, and
 * the port closed after a while without requests.
 */

import { CodedError, isWireError } from "./codes.js";

/** The host's name in its native-messaging manifest. */
export const HOST_NAME = "tw.cardbridge.host";

/** How long to wait for hello after connecting. */
export const HANDSHAKE_MS = 5000;

/** How long an unused port stays open. */
export const IDLE_MS = 60_000;

/** The host's largest request frame (protocol.MaxRequestSize). */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/**
 * The part of a runtime.Port this module uses (a fake in tests).
 * @typedef {object} Port
 * @property {(msg: unknown) => void} postMessage
 * @property {() => void} disconnect
 * @property {{addListener: (fn: (msg: any) => void) => void}} onMessage
 * @property {{addListener: (fn: (port: any) => void) => void}} onDisconnect
 * @property {{message?: string} | null} [error] Firefox's reason for a disconnect
 */

/**
 * @typedef {object} Hello
 * @property {string} version
 * @property {number} protocol
 * @property {string} build "development" or "release" (docs/protocol.md §3.1); "" from an older host
 */

/**
 * @typedef {object} NativeOptions
 * @property {() => Port} connect opens the port (chrome.runtime.connectNative(HOST_NAME))
 * @property {() => string | undefined} [lastError] chrome.runtime.lastError?.message, read in onDisconnect
 * @property {number} [handshakeMs] default HANDSHAKE_MS
 * @property {number} [idleMs] default IDLE_MS
 * @property {(fn: () => void, ms: number) => ReturnType<typeof setTimeout>} [setTimeout]
 * @property {(t: ReturnType<typeof setTimeout> | undefined) => void} [clearTimeout]
 */

/**
 * @typedef {object} Pending
 * @property {(v: any) => void} resolve
 * @property {(e: Error) => void} reject
 */

/**
 * One connection at a time to the host, reopened on demand.
 */
export class NativeHost {
  /** @param {NativeOptions} opts */
  constructor(opts) {
    this.opts = opts;
    this.handshakeMs = opts.handshakeMs ?? HANDSHAKE_MS;
    this.idleMs = opts.idleMs ?? IDLE_MS;
    // Wrapped: a browser's setTimeout called as this.setTimeout(…) throws "Illegal invocation".
    /** @type {(fn: () => void, ms: number) => ReturnType<typeof setTimeout>} */
    this.setTimeout = opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    /** @type {(t: ReturnType<typeof setTimeout> | undefined) => void} */
    this.clearTimeout = opts.clearTimeout ?? ((t) => clearTimeout(t));
    /** @type {Port | null} */
    this.port = null;
    /** @type {Promise<Hello> | null} */
    this.ready = null;
    /** @type {Hello | null} */
    this.hello = null;
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /** Holders that keep the port open while no request runs (an open PIN window). */
    this.holds = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.idleTimer = null;
    /** Counts connections; callers cache per connection (the host reads its config once per start). */
    this.generation = 0;
    /** @type {Set<(event: string, data: any) => void>} */
    this.eventListeners = new Set();
    /** @type {Set<() => void>} */
    this.disconnectListeners = new Set();
    /** @type {((err: Error) => void) | undefined} fails the handshake of the current port */
    this.onceDropped = undefined;
  }

  /**
   * Calls fn with every event the host pushes (readerAdded, cardRemoved, …),
   * except hello.
   * @param {(event: string, data: any) => void} fn
   */
  onEvent(fn) {
    this.eventListeners.add(fn);
  }

  /**
   * Calls fn whenever the port goes (host exit, idle close, failed handshake).
   * @param {() => void} fn
   */
  onDisconnect(fn) {
    this.disconnectListeners.add(fn);
  }

  /**
   * Whether a port is open (connected or connecting).
   * @returns {boolean}
   */
  get connected() {
    return this.port !== null;
  }

  /**
   * Sends one request and resolves with its result, or rejects with a
   * CodedError that carries the host's code and texts.
   * @param {string} command
   * @param {Record<string, unknown>} [args]
   * @param {string | null} [origin] the page's origin; null or absent when the extension asks for itself
   * @returns {Promise<any>}
   */
  async request(command, args, origin) {
    /** @type {Record<string, unknown>} */
    const msg = { id: 0, command };
    if (origin) msg.origin = origin;
    if (args && Object.keys(args).length > 0) msg.args = args;
    // Refuse what the host would refuse with id null, so the caller knows
    // which request failed (docs/protocol.md §2.1).
    const size = jsonSize(msg);
    if (size > MAX_REQUEST_BYTES) {
      throw new CodedError("ERR_MESSAGE_TOO_LARGE", { size, limit: MAX_REQUEST_BYTES });
    }
    this.stopIdle();
    /** @type {{resolve: (v: any) => void, reject: (e: Error) => void}} */
    let entry = { resolve: () => {}, reject: () => {} };
    const done = new Promise((resolve, reject) => {
      entry = { resolve, reject };
    });
    // A disconnect during the handshake rejects it before anyone awaits it.
    done.catch(() => {});
    const id = this.nextId++;
    msg.id = id;
    // Registered before the handshake, so a disconnect fails it too.
    this.pending.set(id, entry);
    try {
      await this.connect();
      const port = this.port;
      if (!port) throw hostUnavailable("port closed");
      port.postMessage(msg);
    } catch (err) {
      this.pending.delete(id);
      this.maybeIdle();
      throw err;
    }
    try {
      return await done;
    } finally {
      this.maybeIdle();
    }
  }

  /**
   * Opens the port if needed and resolves once hello arrived.
   * @returns {Promise<Hello>}
   */
  connect() {
    if (this.ready) return this.ready;
    /** @type {Port} */
    let port;
    try {
      port = this.opts.connect();
    } catch (err) {
      return Promise.reject(hostUnavailable(err instanceof Error ? err.message : String(err)));
    }
    this.port = port;
    this.generation++;
    /** @type {(h: Hello) => void} */
    let resolveHello = () => {};
    /** @type {(e: Error) => void} */
    let rejectHello = () => {};
    const ready = new Promise((resolve, reject) => {
      resolveHello = resolve;
      rejectHello = reject;
    });
    this.ready = ready;
    // A failed handshake fails every request waiting on it; keep the promise
    // from counting as unhandled when nobody waits.
    ready.catch(() => {});
    /** @type {CodedError | null} */
    let fatal = null;
    const timer = this.setTimeout(() => {
      if (this.port !== port || this.hello) return;
      this.drop(port, hostUnavailable(`no hello within ${this.handshakeMs} ms`));
    }, this.handshakeMs);

    port.onMessage.addListener((msg) => {
      if (this.port !== port) return;
      if (msg && typeof msg === "object" && typeof msg.event === "string") {
        if (msg.event === "hello") {
          this.clearTimeout(timer);
          this.hello = {
            version: String(msg.data?.version ?? ""),
            protocol: Number(msg.data?.protocol ?? 0),
            build: typeof msg.data?.build === "string" ? msg.data.build : "",
          };
          resolveHello(this.hello);
          return;
        }
        for (const fn of this.eventListeners) {
          try {
            fn(msg.event, msg.data);
          } catch {
            // A listener's fault is not the port's.
          }
        }
        return;
      }
      if (!msg || typeof msg !== "object" || !("id" in msg)) return;
      if (msg.id === null) {
        // The host could not read an id: before hello this is its only
        // message (ERR_CALLER_NOT_ALLOWED) and it exits; remember why.
        if (!this.hello && isWireError(msg.error)) {
          fatal = new CodedError(msg.error.code, msg.error.details, msg.error);
          this.clearTimeout(timer);
          rejectHello(fatal);
        }
        return;
      }
      const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
      if (!p) return;
      this.pending.delete(msg.id);
      if (isWireError(msg.error)) {
        p.reject(new CodedError(msg.error.code, msg.error.details, msg.error));
      } else if (msg.result !== undefined && typeof msg.result === "object" && msg.result !== null) {
        p.resolve(msg.result);
      } else {
        p.reject(new CodedError("ERR_INTERNAL", { reason: "malformed reply" }));
      }
    });

    port.onDisconnect.addListener((p) => {
      if (this.port !== port) return;
      this.clearTimeout(timer);
      const reason = this.opts.lastError?.() ?? p?.error?.message ?? port.error?.message ?? "disconnected";
      this.drop(port, fatal ?? hostUnavailable(reason), false);
    });

    // Fail the handshake when the port goes before hello.
    this.onceDropped = (/** @type {Error} */ err) => rejectHello(err);
    return ready;
  }

  /**
   * Forgets port and fails everything that waits on it with err.
   * @param {Port} port
   * @param {Error} err
   * @param {boolean} [close] also disconnect the port (not needed when the browser did)
   */
  drop(port, err, close = true) {
    if (this.port !== port) return;
    this.port = null;
    this.ready = null;
    this.hello = null;
    this.stopIdle();
    this.onceDropped?.(err);
    this.onceDropped = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
    if (close) {
      try {
        port.disconnect();
      } catch {
        // Already gone.
      }
    }
    for (const fn of this.disconnectListeners) {
      try {
        fn();
      } catch {
        // A listener's fault is not the port's.
      }
    }
  }

  /**
   * Keeps the port open until the returned function is called (a PIN window
   * is open: the card and its certificates stay warm for the request after it).
   * @returns {() => void}
   */
  hold() {
    this.holds++;
    this.stopIdle();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.maybeIdle();
    };
  }

  /** Closes the port now, failing pending requests with ERR_HOST_UNAVAILABLE. */
  close() {
    if (this.port) this.drop(this.port, hostUnavailable("closed"));
  }

  /** @private */
  stopIdle() {
    if (this.idleTimer !== null) {
      this.clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /** @private */
  maybeIdle() {
    if (!this.port || this.pending.size > 0 || this.holds > 0 || this.idleTimer !== null) return;
    const port = this.port;
    this.idleTimer = this.setTimeout(() => {
      this.idleTimer = null;
      if (this.port === port && this.pending.size === 0 && this.holds === 0) {
        this.drop(port, hostUnavailable("idle"));
      }
    }, this.idleMs);
  }
}

/**
 * @param {string} reason
 * @returns {CodedError}
 */
function hostUnavailable(reason) {
  return new CodedError("ERR_HOST_UNAVAILABLE", { reason: reason.slice(0, 200) });
}

/**
 * The UTF-8 size of v as JSON.
 * @param {unknown} v
 * @returns {number}
 */
export function jsonSize(v) {
  return new TextEncoder().encode(JSON.stringify(v) ?? "").length;
}
