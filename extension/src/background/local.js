// @ts-check
/**
 * The extension's own callers (docs/extension.md §6): the popup's and the
 * overlay's ops (check, certificates, readers, status, changePin; sent to
 * the host without an origin and without consent), who may send overlay
 * ops, and the options page's ops (list and revoke remembered consent).
 */

import { toWire } from "../codes.js";
import { changePin } from "./changepin.js";
import { managedSites } from "./hipkisites.js";
import { loopbackAllowed } from "./hostconfig.js";
import { runPinAction } from "./pinflow.js";
import "../../overlay/sites.js";
import { fail, isAllowedOrigin, isExtensionPage, isObject, senderOrigin } from "./shared.js";

/** The overlay's sites (a classic script that publishes its rule on the global object). */
const overlaySites = Reflect.get(globalThis, "cardbridgeOverlaySites");

/** The ops of the popup and the overlay (docs/extension.md §6.1). */
const LOCAL_OPS = new Set(["check", "certificates", "readers", "changePin", "status"]);

/**
 * The local handlers of one background.
 * @param {import("./shared.js").Env} env
 */
export function createLocal(env) {
  const { chrome, native, consent } = env;
  /** changePin windows in flight, by sender kind. */
  const pending = new Set();

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
        if (pending.has(key)) return fail("ERR_ACTION_PENDING");
        /** @type {Record<string, any>} */
        const a = {};
        if (typeof args.certificateId === "string") a.certificateId = args.certificateId;
        else if (typeof args.reader === "string") a.reader = args.reader;
        pending.add(key);
        try {
          return { result: await runPinAction(env, changePin, a, null, {}) };
        } finally {
          pending.delete(key);
        }
      }
    }
    return fail("ERR_BAD_REQUEST");
  }

  async function localStatus() {
    const [v, r] = await Promise.all([native.request("version"), native.request("readers")]);
    /** @type {any[]} */
    const readers = Array.isArray(r.readers) ? r.readers : [];
    /** @type {{host: {version: string, protocol: number}, readers: any[], certificates: any[], certificatesError?: import("../codes.js").WireError}} */
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
   * localhost / 127.0.0.1 / [::1] when the demo or a test turned that on
   * and such pages are served at all (loopbackAllowed, as for page requests).
   * @param {import("./shared.js").Sender} sender
   */
  async function overlayAllowed(sender) {
    if (!sender.tab || isExtensionPage(chrome, sender)) return false;
    const origin = senderOrigin(sender);
    if (!origin || !isAllowedOrigin(origin)) return false;
    // Only the pages the overlay is injected into (overlay/sites.js, the
    // manifest's matches): a content script of any other page, say of a
    // compromised renderer, gets no origin-less card operations.
    if (origin.startsWith("https://")) return overlaySites.shouldShowOverlay(origin + "/", false);
    const v = await chrome.storage.local.get("overlayOnLocalhost");
    return v?.overlayOnLocalhost === true && overlaySites.shouldShowOverlay(origin + "/", true) && (await loopbackAllowed(env));
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
      case "hipkiSites": {
        // The HiPKI compatibility's sites, for the options page to show.
        const cfg = await env.hostConfig().catch(() => null);
        const managed = await managedSites(env.chrome);
        return { result: { builtin: cfg?.legacyBuiltin ?? "", host: cfg?.legacySites ?? [], managed, hostUnavailable: cfg === null } };
      }
    }
    return fail("ERR_BAD_REQUEST");
  }

  return { handleLocal, overlayAllowed, handleOptions };
}
