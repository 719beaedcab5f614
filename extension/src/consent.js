// @ts-check
/**
 * Which sites may use the card (docs/extension.md §4 "Consent").
 *
 * An origin is allowed without asking when an administrator approved it:
 * storage.managed `approvedOrigins` (browser policy) or the host's `config`
 * `approvedOrigins` (the host's configuration file). Otherwise the user's
 * remembered answer decides, and without one the background asks. The
 * answers are kept where content scripts cannot write them: the extension
 * origin's IndexedDB (src/consentstore.js), not storage.local.
 */

export { LEGACY_CONSENT_KEY as CONSENT_KEY } from "./consentstore.js";

/**
 * @typedef {object} StorageArea the part of chrome.storage.StorageArea used here
 * @property {(keys: string | string[]) => Promise<Record<string, any>>} get
 */

/**
 * @typedef {object} ConsentOptions
 * @property {import("./consentstore.js").ConsentStore} store where the answers are kept
 * @property {StorageArea | undefined} managed chrome.storage.managed (absent or failing without a policy)
 * @property {() => Promise<string[]>} hostApproved the host config's approvedOrigins; rejects when the host is unavailable
 * @property {() => Date} [now]
 */

/** @typedef {import("./consentstore.js").Remembered} Remembered */
/** @typedef {"allowed" | "denied" | "ask"} Decision */
/** @typedef {"managed" | "host"} Source */

export class Consent {
  /** @param {ConsentOptions} opts */
  constructor(opts) {
    this.opts = opts;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * The origins a browser policy approved; [] without a policy.
   * @returns {Promise<string[]>}
   */
  async managedOrigins() {
    if (!this.opts.managed) return [];
    try {
      const v = await this.opts.managed.get("approvedOrigins");
      return stringList(v?.approvedOrigins);
    } catch {
      // Firefox rejects when no policy manages the extension.
      return [];
    }
  }

  /**
   * The origins the host's configuration approved; [] when the host is
   * unavailable (then nobody is pre-approved through it).
   * @returns {Promise<string[]>}
   */
  async hostOrigins() {
    try {
      return stringList(await this.opts.hostApproved());
    } catch {
      return [];
    }
  }

  /**
   * How origin was pre-approved, or null.
   * @param {string} origin
   * @returns {Promise<Source | null>}
   */
  async preApproved(origin) {
    if ((await this.managedOrigins()).includes(origin)) return "managed";
    if ((await this.hostOrigins()).includes(origin)) return "host";
    return null;
  }

  /**
   * @returns {Promise<Record<string, Remembered>>}
   */
  async remembered() {
    return this.opts.store.all();
  }

  /**
   * Whether origin may use the card now, must not, or must be asked.
   * Pre-approval wins over a remembered refusal: the administrator decided.
   * @param {string} origin
   * @returns {Promise<Decision>}
   */
  async decision(origin) {
    if (await this.preApproved(origin)) return "allowed";
    const r = (await this.remembered())[origin];
    if (!r) return "ask";
    return r.allowed ? "allowed" : "denied";
  }

  /**
   * Remembers the user's answer for origin.
   * @param {string} origin
   * @param {boolean} allowed
   */
  async remember(origin, allowed) {
    await this.opts.store.put(origin, { allowed, at: this.now().toISOString() });
  }

  /**
   * Forgets the answer for origin; false if there was none.
   * @param {string} origin
   * @returns {Promise<boolean>}
   */
  async revoke(origin) {
    return this.opts.store.delete(origin);
  }

  /**
   * What the options page shows (docs/extension.md §6.2).
   * @returns {Promise<{remembered: Array<{origin: string} & Remembered>, preApproved: Array<{origin: string, source: Source}>, hostUnavailable?: true}>}
   */
  async list() {
    const remembered = Object.entries(await this.remembered())
      .map(([origin, r]) => ({ origin, allowed: r.allowed, at: r.at }))
      .sort((a, b) => cmp(a.origin, b.origin));
    /** @type {Map<string, Source>} */
    const pre = new Map();
    for (const o of await this.managedOrigins()) pre.set(o, "managed");
    let hostUnavailable = false;
    try {
      for (const o of stringList(await this.opts.hostApproved())) if (!pre.has(o)) pre.set(o, "host");
    } catch {
      hostUnavailable = true;
    }
    const preApproved = [...pre].map(([origin, source]) => ({ origin, source })).sort((a, b) => cmp(a.origin, b.origin));
    /** @type {{remembered: Array<{origin: string} & Remembered>, preApproved: Array<{origin: string, source: Source}>, hostUnavailable?: true}} */
    const out = { remembered, preApproved };
    if (hostUnavailable) out.hostUnavailable = true;
    return out;
  }

}

/**
 * The strings of v when it is an array; [] otherwise.
 * @param {unknown} v
 * @returns {string[]}
 */
function stringList(v) {
  return Array.isArray(v) ? v.filter((s) => typeof s === "string" && s !== "") : [];
}

/**
 * @param {string} a
 * @param {string} b
 */
function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}
