// @ts-check
/**
 * The 「公文交換」 page's requests (kind "exchange", docs/extension.md §6.3)
 * and its event port. Only the extension's own exchange page may send them;
 * web pages never reach the host's `exchange` command (the host refuses it
 * with an origin, too). Two requests go through CardBridge's PIN window:
 * login (the agency card's PIN opens the exchange session) and send (the
 * window shows the letter, and the PIN typed there signs that letter and
 * nothing else). Everything else is passed to the host as it is.
 *
 * While an exchange page is open its port holds the native port open: the
 * host, and with it the exchange program and the clerk's card session,
 * would otherwise end after a minute without requests.
 */

import { CodedError } from "../codes.js";
import { can } from "./certificates.js";
import { runPinAction } from "./pinflow.js";
import { decodeBase64, sha256Hex, textPreview } from "./preview.js";
import { fail, isObject } from "./shared.js";

/** The exchange page, the one sender of kind "exchange". */
export const EXCHANGE_PAGE = "exchange/exchange.html";

/** The requests passed to the host as they are (docs/protocol.md §4.17). */
const PASS = new Set(["status", "logout", "list", "show", "letter", "file", "portable", "print", "settings", "setSettings", "directory", "sync", "return", "announcements", "markRead"]);

/**
 * The page's requests in flight at the host at once: the page asks in
 * bursts (a list, then the letters of its rows), the host takes at most
 * four exchange requests at a time and refuses more (ERR_BUSY), and the
 * exchange program answers one at a time anyway; the rest wait here, in
 * order.
 */
export const MAX_EXCHANGE_IN_FLIGHT = 2;

/** A 函's attachments may total this much: the host takes 8 MiB a message, base64 adds a third. */
export const MAX_SEND_BYTES = 5 * 1024 * 1024;

/**
 * Whether sender is the extension's exchange page (not the popup, not a
 * PIN window, not a content script).
 * @param {any} chrome
 * @param {import("./shared.js").Sender} sender
 */
export function isExchangePage(chrome, sender) {
  if (typeof sender.url !== "string") return false;
  const page = chrome.runtime.getURL(EXCHANGE_PAGE);
  return sender.url === page || sender.url.startsWith(page + "?") || sender.url.startsWith(page + "#");
}

/**
 * The 機關代碼 a certificate speaks for, as the host reckons it
 * (parcel.AgencyCodeOf): its organisation code when it is one (a GCA
 * agency's), else XC and its 統一編號; "" for none (a person's card).
 * @param {any} c
 */
function agencyCodeOf(c) {
  const org = c?.info?.orgCode;
  if (typeof org === "string" && /^[0-9A-Z]{10,17}$/.test(org)) return org;
  const ubn = c?.info?.ubn;
  return typeof ubn === "string" && /^\d{8}$/.test(ubn) ? `XC${ubn}` : "";
}

/**
 * The agency card's signing certificate: the one that speaks for the
 * 機關代碼, so that the PIN goes to the agency's card and not to a clerk's
 * own card in another reader. Never any card when the code is of another
 * form or there is none (the exchange not set up): the first signing card
 * in the readers would get the PIN then.
 * @param {any[]} certificates
 * @param {string} agency
 */
export function agencyCertificate(certificates, agency) {
  const code = typeof agency === "string" ? agency : "";
  const mine = code === "" ? [] : certificates.filter((c) => can(c, "sign") && agencyCodeOf(c) === code);
  if (mine.length > 0) return mine[0];
  if (certificates.some((c) => c.readOnly === true)) {
    throw new CodedError("ERR_HICOS_CLIENT_NEEDED", { download: "https://moica.nat.gov.tw/download_1.html" });
  }
  if (code === "") {
    throw new CodedError("ERR_EXCHANGE_FAILED", {
      reason: "公文交換尚未設定本機關的機關代碼，請先完成設定。 / The document exchange has no agency code yet; set it up first.",
    });
  }
  throw new CodedError("ERR_EXCHANGE_FAILED", {
    reason: `讀卡機中沒有本機關（${agency}）的憑證卡。請插入機關憑證卡（組織及團體憑證）後再試一次。 / No card of this agency (${agency}) is in a reader. Insert the agency's organisation card and try again.`,
  });
}

/**
 * The text the PIN window shows of a letter to send: recipients, 主旨,
 * 說明 and each attachment with its size and SHA-256, as it is signed.
 * @param {{to: string[], subject: string, number?: string, body: string, files?: {name: string, data: string}[]}} letter
 * @param {Record<string, string>} names the directory's names by code
 */
export async function letterText(letter, names) {
  const lines = [`受文者：${letter.to.map((c) => (names[c] ? `${names[c]}（${c}）` : c)).join("、")}`];
  if (letter.number) lines.push(`發文字號：${letter.number}`);
  lines.push(`主旨：${letter.subject}`);
  lines.push("說明：");
  for (const p of String(letter.body).split(/\r?\n/)) if (p.trim() !== "") lines.push(`  ${p.trim()}`);
  for (const f of letter.files ?? []) {
    const bytes = decodeBase64(f.data, "files");
    lines.push(`附件：${f.name}（${bytes.length} bytes，SHA-256 ${(await sha256Hex(bytes)).slice(0, 16)}…）`);
  }
  return lines.join("\n");
}

/**
 * The letter's arguments, checked before any window: recipients, a subject,
 * and attachments within MAX_SEND_BYTES.
 * @param {Record<string, any>} a
 */
export function checkLetter(a) {
  const bad = (/** @type {string} */ argument, /** @type {string} */ reason) => new CodedError("ERR_BAD_ARGUMENT", { argument, reason });
  if (!Array.isArray(a.to) || a.to.length === 0 || !a.to.every((c) => typeof c === "string" && /^[A-Z0-9]{1,20}$/.test(c))) throw bad("to", "at least one 機關代碼");
  if (typeof a.subject !== "string" || a.subject.trim() === "") throw bad("subject", "a subject is needed");
  if (typeof a.body !== "string") throw bad("body", "a string");
  if (a.number !== undefined && typeof a.number !== "string") throw bad("number", "a string");
  const files = a.files ?? [];
  if (!Array.isArray(files)) throw bad("files", "a list");
  let total = 0;
  for (const f of files) {
    if (!isObject(f) || typeof f.name !== "string" || typeof f.data !== "string") throw bad("files", "{name, data}");
    total += Math.floor((f.data.length * 3) / 4);
  }
  if (total > MAX_SEND_BYTES) {
    throw new CodedError("ERR_MESSAGE_TOO_LARGE", { size: total, limit: MAX_SEND_BYTES });
  }
  return { to: a.to, subject: a.subject, number: a.number ?? "", body: a.body, files };
}

/**
 * The exchange page's handlers of one background.
 * @param {import("./shared.js").Env} env
 */
export function createExchange(env) {
  const { native, chrome } = env;
  /** @type {Set<any>} the open exchange pages' ports */
  const ports = new Set();
  /** Only one login or send window at a time from the page. */
  let pinPending = false;
  let inFlight = 0;
  /** @type {Array<() => void>} requests waiting for their turn */
  const waiting = [];

  /**
   * Runs f when fewer than MAX_EXCHANGE_IN_FLIGHT requests are at the host.
   * @template T
   * @param {() => Promise<T>} f
   * @returns {Promise<T>}
   */
  async function inTurn(f) {
    if (inFlight >= MAX_EXCHANGE_IN_FLIGHT) await new Promise((r) => waiting.push(() => r(undefined)));
    inFlight++;
    try {
      return await f();
    } finally {
      inFlight--;
      waiting.shift()?.();
    }
  }

  native.onEvent((event, data) => {
    if (event !== "exchange" || !isObject(data)) return;
    post({ event: String(data.name), data: data.data ?? null });
  });
  native.onDisconnect(() => {
    // The host went, and with it the exchange program and the session.
    if (ports.size > 0) post({ event: "sessionEnded", data: { reason: "stopped" } });
  });

  /** @param {any} m */
  function post(m) {
    for (const p of ports) {
      try {
        p.postMessage(m);
      } catch {
        ports.delete(p);
      }
    }
  }

  /** The agency's 機關代碼, from the exchange's own status. */
  async function agency() {
    const st = await native.request("exchange", { op: "status" });
    return String(st?.agency ?? "");
  }

  /**
   * A PIN action over the host's exchange command.
   * @param {"exchangeLogin" | "exchangeSend"} mode
   * @param {string} agencyCode
   * @param {(cert: any) => Record<string, unknown>} hostArgs the host's exchange arguments but the PIN
   * @param {import("./sessions.js").SignContent} [content]
   * @returns {import("./pinflow.js").PinAction}
   */
  function exchangeAction(mode, agencyCode, hostArgs, content) {
    return {
      mode,
      command: "exchange",
      args: [],
      required: [],
      choose: (certificates) => agencyCertificate(certificates, agencyCode),
      show: content ? async () => content : undefined,
      hostArgs: (_args, cert, secrets) => ({ ...hostArgs(cert), pin: secrets.pin }),
    };
  }

  /**
   * @param {string} op
   * @param {() => Promise<any>} f
   */
  async function withPinWindow(op, f) {
    if (pinPending) return fail("ERR_ACTION_PENDING", { op });
    pinPending = true;
    try {
      return { result: await f() };
    } finally {
      pinPending = false;
    }
  }

  /**
   * One request of the exchange page.
   * @param {Record<string, any>} message
   * @param {import("./shared.js").Sender} [sender]
   */
  async function handleExchange(message, sender) {
    // The page's tab: its PIN window closes when the page goes, as a web
    // page's does, and a PIN typed there logs in or sends for no page.
    // (Without an origin no cancel cooldown applies.)
    /** @type {import("./pinflow.js").PinRequest} */
    const req = typeof sender?.tab?.id === "number" ? { tabId: sender.tab.id } : {};
    const op = message.op;
    const args = message.args ?? {};
    if (typeof op !== "string" || !isObject(args)) return fail("ERR_BAD_REQUEST");
    if (PASS.has(op)) {
      return { result: await inTurn(() => native.request("exchange", Object.keys(args).length > 0 ? { op, args } : { op })) };
    }
    switch (op) {
      case "login": {
        const code = await agency();
        return withPinWindow(op, () =>
          runPinAction(env, exchangeAction("exchangeLogin", code, (cert) => ({ op: "login", args: { reader: String(cert.reader ?? "") } })), {}, null, req),
        );
      }
      case "send": {
        const letter = checkLetter(args);
        const code = await agency();
        /** @type {Record<string, string>} */
        const names = {};
        try {
          const dir = await native.request("exchange", { op: "directory" });
          for (const e of Array.isArray(dir) ? dir : []) if (typeof e?.code === "string") names[e.code] = String(e.name ?? "");
        } catch {
          // The names are a courtesy; the codes are shown without them.
        }
        const text = await letterText(letter, names);
        const bytes = new TextEncoder().encode(text);
        /** @type {import("./sessions.js").SignContent} */
        const content = { kind: "sign", format: "cms", hashAlgorithm: "SHA-256", digestOnly: false, size: bytes.length, sha256: await sha256Hex(bytes), text: textPreview(bytes) };
        return withPinWindow(op, () =>
          runPinAction(env, exchangeAction("exchangeSend", code, (cert) => ({ op: "send", args: { ...letter, reader: String(cert.reader ?? "") } }), content), {}, null, req),
        );
      }
    }
    return fail("ERR_BAD_REQUEST");
  }

  /**
   * runtime.onConnect: the exchange page's event port. It holds the native
   * port open while the page is open.
   * @param {any} port
   */
  function onConnect(port) {
    if (port?.name !== "exchange") return;
    if (port.sender?.id !== chrome.runtime.id || !isExchangePage(chrome, port.sender ?? {})) {
      port.disconnect();
      return;
    }
    ports.add(port);
    const release = native.hold();
    port.onDisconnect.addListener(() => {
      ports.delete(port);
      release();
    });
  }

  return { handleExchange, onConnect };
}
