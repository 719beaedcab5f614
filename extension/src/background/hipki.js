// @ts-check
/**
 * The `hipki` page action: a request a government page sent the way CHT's
 * HiPKI Local Sign Server takes it, from the compatibility script
 * (hipki/page.js, docs/hipki.md). The host reads and checks it (`hipki`,
 * docs/protocol.md §4.18: the built-in government sites and legacySites
 * only); this module runs it with the ordinary commands and CardBridge's
 * PIN window (the page's own PIN is never used), and writes the answer the
 * page expects: the server's JSON, with its ret_code and last_error values
 * (CHT's errorcode.js). Every failure, consent and a missing host
 * included, is such an answer: the page's own error handling shows it.
 */

import { CodedError, toWire } from "../codes.js";
import { capableCertificates } from "./certificates.js";
import { decrypt } from "./decrypt.js";
import { compatOff, currentRule, siteRule } from "./hipkisites.js";
import { runPinAction } from "./pinflow.js";
import { sign } from "./sign.js";

/** The version pages check (internal/hipki.ServerVersion). */
export const SERVER_VERSION = "1.3.4.999999";

/** ret_code values (errorcode.js). */
export const RET = Object.freeze({
  OK: 0,
  NO_CARD: 0x76000006,
  TIMEOUT: 0x7600000d,
  UNSUPPORTED: 0x7600000e,
  FORBIDDEN: 0x7600000f,
  UNTRUSTED_SITE: 0x76000031,
  CANCELLED: 0x76000999,
  NO_LIBRARY: 0x76100001,
  NO_READER: 0x76100003,
  LOGIN_FAILED: 0x76100006,
  CARD_INFO: 0x7610000b,
  NO_CERT: 0x7610000c,
  SIGN_FAILED: 0x76300004,
  DECRYPT_FAILED: 0x76400003,
  NOT_YET_VALID: 0x76500001,
  EXPIRED: 0x76500002,
});

/** last_error values that go with LOGIN_FAILED. */
export const LAST = Object.freeze({ PIN_INCORRECT: 0xa0, PIN_LOCKED: 0xa4, ONE_TRY_LEFT: 0x80000001, TWO_TRIES_LEFT: 0x80000002 });

/** The card management answer's texts: where a clerk goes instead. */
const CARD_MANAGEMENT = {
  zh: "開卡、鎖卡解碼與重設 PIN 碼須透過憑證管理中心的線上服務：請用發卡單位網站的「卡片管理工具」（HiCOS 卡片管理工具，https://moica.nat.gov.tw/download_1.html），或洽發卡單位。CardBridge 不能代辦。",
  en: "Card activation, unblocking and PIN reset go through the certificate authority's online service: use the card management tool on the issuer's site (HiCOS card management tool, https://moica.nat.gov.tw/download_1.html), or contact the issuer. CardBridge cannot do these.",
};

const CHANGE_PIN = {
  zh: "請按瀏覽器工具列的 CardBridge 按鈕，選「變更 PIN 碼」。",
  en: "Click the CardBridge button on the browser's toolbar and choose Change PIN.",
};

/**
 * The answer's func for what the page asked.
 * @param {string} op the host's op, or the guess before the host answered
 */
function answerFunc(op) {
  return op === "sign" ? "sign" : op === "decrypt" ? "decrypt" : "pkcs11info";
}

/**
 * A guess of the operation from the raw request, for an answer before the
 * host has read it (consent refused, no host).
 * @param {Record<string, any>} args
 */
function guessOp(args) {
  const p = String(args.payload ?? "");
  if (args.path === "/sign" || p.includes("MakeSignature")) return "sign";
  if (args.path === "/decrypt" || p.includes("DecryptData")) return "decrypt";
  return "certificates";
}

/**
 * The answer for a failure: its ret_code, last_error and the texts of
 * CardBridge's error (message: Chinese, message2: English).
 * @param {unknown} err
 * @param {string} op
 * @returns {string}
 */
export function errorAnswer(err, op) {
  const e = toWire(err);
  const d = /** @type {Record<string, any>} */ (e.details ?? {});
  /** @type {number} */
  let ret = op === "sign" ? RET.SIGN_FAILED : op === "decrypt" ? RET.DECRYPT_FAILED : RET.CARD_INFO;
  /** @type {number} */
  let last = 0;
  switch (e.code) {
    case "ERR_USER_CANCELLED":
      ret = RET.CANCELLED;
      if (typeof d.triesLeft === "number" && d.afterWrongPin === true) [ret, last] = [RET.LOGIN_FAILED, triesCode(d.triesLeft)];
      break;
    case "ERR_PIN_INCORRECT":
      [ret, last] = [RET.LOGIN_FAILED, triesCode(typeof d.triesLeft === "number" ? d.triesLeft : -1)];
      break;
    case "ERR_PIN_BLOCKED":
      [ret, last] = [RET.LOGIN_FAILED, LAST.PIN_LOCKED];
      break;
    case "ERR_NO_READER":
    case "ERR_NO_SERVICE":
    case "ERR_READER_UNAVAILABLE":
      ret = RET.NO_READER;
      break;
    case "ERR_NO_CARD":
    case "ERR_CARD_REMOVED":
    case "ERR_UNSUPPORTED_CARD":
      ret = RET.NO_CARD;
      break;
    case "ERR_UNKNOWN_CERTIFICATE":
    case "ERR_CERTIFICATE_USAGE":
      ret = RET.NO_CERT;
      break;
    case "ERR_HICOS_CLIENT_NEEDED":
      ret = RET.NO_LIBRARY;
      break;
    case "ERR_CONSENT_DENIED":
      ret = RET.UNTRUSTED_SITE;
      break;
    case "ERR_NOT_ALLOWED":
    case "ERR_INSECURE_CONTEXT":
      ret = RET.FORBIDDEN;
      break;
    case "ERR_HOST_UNAVAILABLE":
    case "ERR_TIMEOUT":
    case "ERR_ACTION_TIMEOUT":
    case "ERR_ACTION_PENDING":
    case "ERR_BUSY":
      ret = RET.TIMEOUT;
      break;
  }
  return JSON.stringify({ func: answerFunc(op), ret_code: ret, last_error: last, message: e.messageZh, message2: e.message, version: SERVER_VERSION });
}

/**
 * last_error for a wrong PIN with tries left (CHT's tries-left codes).
 * @param {number} triesLeft
 */
function triesCode(triesLeft) {
  return triesLeft === 1 ? LAST.ONE_TRY_LEFT : triesLeft === 2 ? LAST.TWO_TRIES_LEFT : triesLeft === 0 ? LAST.PIN_LOCKED : LAST.PIN_INCORRECT;
}

/**
 * Seconds since 1970 of an RFC 3339 time ("" → 0).
 * @param {unknown} t
 */
function unixSeconds(t) {
  const ms = Date.parse(String(t ?? ""));
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/**
 * The pkcs11info answer: a slot per reader, its card's certificates as the
 * server lists them (cert1 for signing, cert2 for encryption), with their
 * DER when withCert.
 * @param {any[]} readers the host's readers
 * @param {any[]} certificates the host's certificates
 * @param {boolean} withCert
 * @param {string} [slot] only this reader (a name or an index)
 */
export function pkcs11Info(readers, certificates, withCert, slot) {
  const names = readers.map((r) => String(r?.name ?? ""));
  for (const c of certificates) if (!names.includes(String(c.reader))) names.push(String(c.reader));
  const chosen = slot ? names.filter((n, i) => n === slot || String(i) === slot) : names;
  const slots = chosen.map((name) => {
    const reader = readers.find((r) => r?.name === name);
    const certs = certificates.filter((c) => c.reader === name && !c.readOnly);
    if (certs.length === 0) return reader?.card ? { slotDescription: name, token: "unknown token" } : { slotDescription: name };
    const first = certs[0].info ?? {};
    return {
      slotDescription: name,
      token: {
        serialNumber: String(first.cardSerial ?? ""),
        label: String(first.holder ?? ""),
        manufacturerID: "CardBridge",
        model: String(first.ca ?? ""),
        certs: certs.map((c) => {
          const signs = Array.isArray(c.capabilities) && c.capabilities.includes("sign");
          /** @type {Record<string, unknown>} */
          const out = {
            label: signs ? "cert1" : "cert2",
            usage: signs ? "digitalSignature" : "keyEncipherment|dataEncipherment",
            subjectDN: String(c.info?.subject ?? ""),
            issuerDN: String(c.info?.issuer ?? ""),
            sn: String(c.info?.serial ?? ""),
            notBeforeT: unixSeconds(c.info?.notBefore),
            notAfterT: unixSeconds(c.info?.notAfter),
          };
          if (withCert) out.certb64 = String(c.certificate ?? "");
          return out;
        }),
      },
    };
  });
  return { func: "pkcs11info", ret_code: RET.OK, last_error: 0, serverVersion: SERVER_VERSION, slots };
}

/**
 * The certificate for op on the page's slot: the host's capable ones in
 * that reader; several make the PIN window ask. Refused before any PIN
 * when it has expired or is not valid yet, as the server does.
 * @param {any[]} certificates
 * @param {"sign" | "decrypt"} what
 * @param {string[]} readers the readers' names, for an index
 * @param {string} [slot]
 * @returns {any[]}
 */
export function fittingCertificates(certificates, what, readers, slot) {
  let fit = capableCertificates(certificates, what);
  if (slot) fit = fit.filter((c) => c.reader === slot || String(readers.indexOf(c.reader)) === slot);
  if (fit.length === 0) throw new CodedError("ERR_UNKNOWN_CERTIFICATE");
  return fit;
}

/**
 * Refusals before the PIN: an expired or not-yet-valid certificate.
 * @param {any} cert
 * @param {string} op
 * @returns {string | null} the answer, or null
 */
function validityAnswer(cert, op) {
  const status = cert?.info?.status;
  if (status !== "expired" && status !== "not-yet-valid") return null;
  const expired = status === "expired";
  return JSON.stringify({
    func: answerFunc(op),
    ret_code: expired ? RET.EXPIRED : RET.NOT_YET_VALID,
    last_error: 0,
    message: expired ? "憑證已逾期，請向發卡單位申請新卡。" : "憑證尚未生效，請於生效日後再試。",
    message2: expired ? "The certificate has expired: apply to the issuer for a new card." : "The certificate is not valid yet: try again from its start date.",
    version: SERVER_VERSION,
  });
}

/** @type {import("./actions.js").PageAction & {answer: (err: unknown, args: Record<string, any>) => {response: string}}} */
export const hipki = {
  args: ["payload", "path", "query"],
  consent: true,
  // Before consent: the clerk's switch, and the sites that speak HiPKI
  // (hipkisites.js), so that no other site gets as far as a consent
  // window.
  async precheck(env, _args, origin) {
    if ((await compatOff(env.chrome)) === true || !(await currentRule(env)).allows(origin)) {
      throw new CodedError("ERR_NOT_ALLOWED", { operation: "hipki", origin: origin.slice(0, 80) });
    }
  },
  answer: (err, args) => ({ response: errorAnswer(err, guessOp(args)) }),
  async run(env, args, origin, req) {
    const { native } = env;
    const read = await native.request("hipki", { payload: String(args.payload ?? ""), path: String(args.path ?? ""), query: String(args.query ?? "") }, origin);
    if (read?.refused) return { response: refusedAnswer(read.refused, guessOp(args)) };
    const r = read?.request ?? {};
    try {
      if (r.op === "certificates") {
        const [readers, listed] = await Promise.all([native.request("readers", {}, origin), native.request("certificates", {}, origin)]);
        const rs = Array.isArray(readers?.readers) ? readers.readers : [];
        const cs = Array.isArray(listed?.certificates) ? listed.certificates : [];
        return { response: JSON.stringify(pkcs11Info(rs, cs, r.withCert === true, r.slot)) };
      }
      const listed = await native.request("certificates", {}, origin);
      const cs = Array.isArray(listed?.certificates) ? listed.certificates : [];
      const readerNames = [...new Set(cs.map((/** @type {any} */ c) => String(c.reader)))];
      // PKCS1, RAW and DecryptData are the host's decision (a site only in
      // the browser policy gets them refused there): refused here before
      // any window, so no PIN is typed for nothing.
      if ((r.op === "decrypt" || r.sign?.format === "raw") && !(await hostAllows(env, origin, r.op))) {
        return { response: forbiddenAnswer(r.op) };
      }
      const what = r.op === "decrypt" ? "decrypt" : "sign";
      const fit = fittingCertificates(cs, what, readerNames, r.slot);
      if (fit.length === 1) {
        const invalid = validityAnswer(fit[0], r.op);
        if (invalid) return { response: invalid };
      }
      if (r.op === "sign") return { response: JSON.stringify(await signAnswer(env, r.sign, fit, origin, req)) };
      if (r.op === "decrypt") return { response: JSON.stringify(await decryptAnswer(env, r.decrypt, fit, origin, req)) };
      throw new CodedError("ERR_BAD_REQUEST");
    } catch (err) {
      return { response: errorAnswer(err, r.op) };
    }
  },
};

/**
 * Whether the host lets origin have raw signatures (or decryption): its
 * rawSignOrigins (decryptOrigins), or its own HiPKI sites (built in and
 * legacySites of the system configuration).
 * @param {import("./shared.js").Env} env
 * @param {string} origin
 * @param {string} op
 */
async function hostAllows(env, origin, op) {
  const cfg = await env.hostConfig();
  const listed = op === "decrypt" ? cfg.decryptOrigins : cfg.rawSignOrigins;
  return listed.includes(origin) || siteRule(cfg.legacyBuiltin, cfg.legacySites).allows(origin);
}

/** @param {string} op */
function forbiddenAnswer(op) {
  return JSON.stringify({
    func: answerFunc(op),
    ret_code: RET.FORBIDDEN,
    last_error: 0,
    message: "這個網站不能要求 PKCS#1、RAW 簽章或解密：請資訊人員把它加入 CardBridge 系統設定檔的 legacySites。",
    message2: "This site may not ask for PKCS#1 or RAW signatures or decryption: IT staff add it to legacySites in CardBridge's system configuration.",
    version: SERVER_VERSION,
  });
}

/**
 * The answer for a request the host refused.
 * @param {{retCode: number, reason?: string, cardManagement?: boolean, changePin?: boolean}} refused
 * @param {string} op
 */
export function refusedAnswer(refused, op) {
  const texts = refused.cardManagement ? CARD_MANAGEMENT : refused.changePin ? CHANGE_PIN : null;
  return JSON.stringify({
    func: answerFunc(op),
    ret_code: refused.retCode,
    last_error: 0,
    message: texts ? texts.zh : `CardBridge 無法處理這個網頁的要求：${String(refused.reason ?? "").slice(0, 200)}。請通知網站管理者。`,
    message2: texts ? texts.en : `CardBridge cannot handle this page's request: ${String(refused.reason ?? "").slice(0, 200)}. Tell the site's administrator.`,
    version: SERVER_VERSION,
  });
}

/**
 * MakeSignature through CardBridge's PIN window.
 * @param {import("./shared.js").Env} env
 * @param {any} s the host's reading of the request (request.sign)
 * @param {any[]} fit the certificates that may sign it
 * @param {string} origin
 * @param {import("./actions.js").PageRequest} req
 */
async function signAnswer(env, s, fit, origin, req) {
  /** @type {Record<string, any>} */
  const args = { hashAlgorithm: s.hashAlgorithm, format: s.format };
  if (s.data) args.data = s.data;
  if (s.digest) args.digest = s.digest;
  if (s.nonce) args.nonce = s.nonce;
  if (fit.length === 1) args.certificateId = fit[0].id;
  const action = { ...sign, capability: /** @type {const} */ ("sign"), choose: (/** @type {any[]} */ _c, /** @type {any} */ a) => fit.find((c) => c.id === a.certificateId) ?? null };
  const res = await runPinAction(env, action, args, origin, req);
  /** @type {Record<string, unknown>} */
  const out = { func: "sign", ret_code: RET.OK, last_error: 0, signature: res.cms ?? res.signature, certb64: res.certificate, message: "", version: SERVER_VERSION };
  if (s.withCardSN) out.cardSN = res.cardSerial ?? "";
  return out;
}

/**
 * DecryptData through CardBridge's PIN window.
 * @param {import("./shared.js").Env} env
 * @param {any} d request.decrypt
 * @param {any[]} fit
 * @param {string} origin
 * @param {import("./actions.js").PageRequest} req
 */
async function decryptAnswer(env, d, fit, origin, req) {
  /** @type {Record<string, any>} */
  const args = { ciphertext: d.ciphertext };
  if (fit.length === 1) args.certificateId = fit[0].id;
  const action = { ...decrypt, choose: (/** @type {any[]} */ _c, /** @type {any} */ a) => fit.find((c) => c.id === a.certificateId) ?? null };
  const res = await runPinAction(env, action, args, origin, req);
  let plain = String(res.plaintext ?? "");
  if (d.plainEncoding === "NONE") {
    const bytes = Uint8Array.from(atob(plain), (ch) => ch.charCodeAt(0));
    plain = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  }
  return { func: "decrypt", ret_code: RET.OK, last_error: 0, plain, version: SERVER_VERSION };
}
