// @ts-check
/**
 * The PIN window's decisions, without the DOM (unit-tested in
 * test/pin.test.js): what to show for a session, and whether the form may be
 * sent under the host's PIN rule. docs/extension.md §5.
 */

import { pinProblem, pinRule } from "../src/pinrule.js";

/**
 * chrome.i18n.getMessage, or a stand-in in tests.
 * @typedef {(key: string, subs?: string[]) => string} Translate
 */

/**
 * The PIN rule of a session view's pinStatus: what the host said (src/pinrule.js).
 * @typedef {import("../src/pinrule.js").PinRule} PinRule
 * @typedef {Parameters<typeof pinRule>[0]} PinStatus
 */

/**
 * The message for a character the rule refuses: plain words for the host's
 * "alnum", else the printable-ASCII wording.
 * @param {PinRule} rule
 * @returns {string} a translation key
 */
export function badCharsKey(rule) {
  return rule.characters === "alnum" ? "pin_badCharsAlnum" : "pin_badChars";
}

/**
 * The hint under the PIN field, with the host's lengths.
 * @param {PinStatus} status the session view's pinStatus
 * @returns {{key: string, subs: string[]}} a translation key and its substitutions
 */
export function hint(status) {
  const rule = pinRule(status);
  return { key: rule.characters === "alnum" ? "pin_lengthHint" : "pin_lengthHintAny", subs: [String(rule.minLength), String(rule.maxLength)] };
}

/**
 * @typedef {object} Fields
 * @property {string} pin
 * @property {string} [newPin]
 * @property {string} [confirm]
 */

/**
 * Whether the form may be submitted, and the problem to show if not (a
 * translation key; "" while the user is still typing). Lengths and
 * characters are the host's (the session view's pinStatus), checked by
 * src/pinrule.js as the background checks them.
 * @param {"sign" | "authenticate" | "decrypt" | "changePin"} mode
 * @param {Fields} f
 * @param {PinStatus} status the session view's pinStatus
 * @returns {{ok: boolean, problem: string}}
 */
export function formState(mode, f, status) {
  const rule = pinRule(status);
  const all = mode === "changePin" ? [f.pin, f.newPin ?? "", f.confirm ?? ""] : [f.pin];
  if (all.some((v) => pinProblem(v, rule) === "chars")) return { ok: false, problem: badCharsKey(rule) };
  if (pinProblem(f.pin, rule) !== "") return { ok: false, problem: "" };
  if (mode !== "changePin") return { ok: true, problem: "" };
  const newPin = f.newPin ?? "";
  const confirm = f.confirm ?? "";
  if (pinProblem(newPin, rule) !== "") return { ok: false, problem: "" };
  if (confirm.length >= newPin.length && confirm !== newPin) return { ok: false, problem: "pin_mismatch" };
  if (confirm !== newPin) return { ok: false, problem: "" };
  if (newPin === f.pin) return { ok: false, problem: "pin_sameAsOld" };
  return { ok: true, problem: "" };
}

/**
 * What the window shows for a session view.
 * @typedef {object} Display
 * @property {string} origin the requesting origin, or the text for "CardBridge itself"
 * @property {boolean} fromSite
 * @property {boolean} embedded the request came from a frame embedded in the page (show pin_embedded)
 * @property {string} action
 * @property {Array<[string, string]>} facts label, value: holder, 統一編號, CA, validity…
 * @property {string[]} warnings red warnings (expired, last try)
 * @property {string[]} notes quiet notes (test certificate)
 * @property {string} tries the tries-left line
 * @property {boolean} blocked
 * @property {boolean} virtual show the 「虛擬測試卡」 banner
 * @property {ContentDisplay | null} content what is signed or decrypted
 */

/**
 * What the window shows of the data a request signs or decrypts.
 * @typedef {object} ContentDisplay
 * @property {string} title 「要簽署的內容」 / 「要解密的資料」
 * @property {Array<[string, string]>} facts format, size, for whom
 * @property {{label: string, value: string} | null} fingerprint the SHA-256 of the data, or the digest the page sent
 * @property {string | null} text the data's first lines (shown as text, never as HTML), or null
 * @property {string} note under the text: how much is shown, or why there is no text
 */

/**
 * A byte count in words: "1,234 位元組", or "12.1 KB（12,345 位元組）".
 * @param {number} n
 * @param {Translate} t
 * @returns {string}
 */
export function sizeText(n, t) {
  const count = Math.max(0, Math.floor(n)).toLocaleString("en-US");
  if (n < 1024) return t("pin_sizeBytes", [count]);
  const kb = n / 1024;
  return t("pin_sizeKB", [kb >= 100 ? Math.round(kb).toLocaleString("en-US") : kb.toFixed(1), count]);
}

/**
 * A hex fingerprint in groups of 8, to read and compare.
 * @param {string} hex
 */
export function groupHex(hex) {
  return (hex.match(/.{1,8}/g) ?? []).join(" ");
}

/**
 * What the window shows of view.content.
 * @param {import("../src/background.js").SessionView} view
 * @param {Translate} t
 * @param {string[]} warnings red warnings, to add to
 * @returns {ContentDisplay | null}
 */
function describeContent(view, t, warnings) {
  const c = view.content;
  if (!c) return null;
  if (c.kind === "decrypt") {
    return {
      title: t("pin_contentTitle_decrypt"),
      facts: [
        [t("pin_decryptData"), sizeText(c.size, t)],
        [t("pin_decryptFor"), c.for ?? t("pin_noOrigin")],
      ],
      fingerprint: null,
      text: null,
      note: "",
    };
  }
  /** @type {Array<[string, string]>} */
  const facts = [
    [t("pin_format"), t(c.format === "cms" ? "pin_formatCms" : "pin_formatRaw")],
    [t("pin_size"), sizeText(c.size, t)],
  ];
  if (c.digestOnly) {
    warnings.push(t("pin_digestOnly"));
    return { title: t("pin_contentTitle_sign"), facts, fingerprint: { label: t("pin_digest", [c.hashAlgorithm]), value: groupHex(c.digest ?? "") }, text: null, note: "" };
  }
  const text = c.text ?? null;
  return {
    title: t("pin_contentTitle_sign"),
    facts,
    fingerprint: { label: t("pin_sha256"), value: groupHex(c.sha256 ?? "") },
    text: text ? text.text : null,
    note: !text ? t("pin_notText") : text.truncated ? t("pin_textTruncated", [String(text.shown), String(text.lines)]) : "",
  };
}

/**
 * @param {import("../src/background.js").SessionView} view
 * @param {Translate} t
 * @param {"zh" | "en"} lang
 * @returns {Display}
 */
export function describe(view, t, lang) {
  const info = view.certificate?.info ?? null;
  /** @type {Array<[string, string]>} */
  const facts = [];
  /** @type {string[]} */
  const warnings = [];
  /** @type {string[]} */
  const notes = [];
  if (info) {
    facts.push([t("pin_holder"), String(info.holder ?? "")]);
    if (info.ubn) facts.push([t("pin_ubn"), String(info.ubn)]);
    if (info.orgCode) facts.push([t("pin_orgCode"), String(info.orgCode)]);
    if (info.idLast4) facts.push([t("pin_idLast4"), String(info.idLast4)]);
    const ca = lang === "en" ? info.caNameEn || info.caName : info.caNameZh || info.caName;
    facts.push([t("pin_ca"), String(ca ?? info.ca ?? "")]);
    const from = day(info.notBefore);
    const to = day(info.notAfter);
    const expired = info.status === "expired" || (typeof info.daysLeft === "number" && info.daysLeft < 0);
    facts.push([
      t("pin_validity"),
      expired ? t("pin_validityExpired", [from, to]) : t("pin_validityRange", [from, to, String(info.daysLeft ?? "")]),
    ]);
    if (expired) warnings.push(t("pin_expired"));
    if (info.status === "not-yet-valid") warnings.push(t("pin_notYetValid"));
    if (info.test) notes.push(t("pin_testCert"));
  } else if (view.mode !== "consent") {
    facts.push([t("pin_holder"), t("pin_noCertificate")]);
  }
  const st = view.pinStatus;
  const blocked = !!st?.blocked;
  let tries = "";
  if (st && !blocked) {
    tries = st.triesLeft >= 0 ? t("pin_triesLeft", [String(st.triesLeft)]) : t("pin_triesUnknown");
    if (st.triesLeft === 1) warnings.push(t("pin_lastTry"));
  }
  const content = describeContent(view, t, warnings);
  return {
    origin: view.origin ?? t("pin_noOrigin"),
    fromSite: view.origin !== null,
    embedded: view.origin !== null && view.embedded === true,
    action: view.mode === "consent" ? t("pin_consentQuestion") : t(`pin_action_${view.mode}`),
    facts,
    warnings,
    notes,
    tries,
    blocked,
    virtual: view.virtual === true,
    content,
  };
}

/**
 * The date part of an RFC 3339 time.
 * @param {unknown} s
 * @returns {string}
 */
function day(s) {
  return typeof s === "string" ? s.slice(0, 10) : "";
}

/** The Allow and submit buttons stay off this long after the window is visible and focused. */
export const ARM_MS = 750;

/**
 * Whether the window may take a click or Enter on Allow / 確定: it must have
 * been visible and focused for ARM_MS without a break, so a page cannot
 * pop the window up under the user's pointer or keystroke (clickjacking).
 * @typedef {object} Arming
 * @property {boolean} visible
 * @property {boolean} focused
 * @property {number | null} since when it last became both visible and focused
 */

/**
 * The arming state at the start.
 * @param {boolean} visible
 * @param {boolean} focused
 * @param {number} now
 * @returns {Arming}
 */
export function initialArming(visible, focused, now) {
  return { visible, focused, since: visible && focused ? now : null };
}

/**
 * The next arming state after a window event. Every return to
 * visible-and-focused (blur → focus, hidden → visible) starts the delay again.
 * @param {Arming} a
 * @param {"focus" | "blur" | "show" | "hide"} event
 * @param {number} now
 * @returns {Arming}
 */
export function nextArming(a, event, now) {
  const visible = event === "show" ? true : event === "hide" ? false : a.visible;
  const focused = event === "focus" ? true : event === "blur" ? false : a.focused;
  const both = visible && focused;
  const since = !both ? null : a.since !== null && a.visible && a.focused ? a.since : now;
  return { visible, focused, since };
}

/**
 * What the PIN window does when its armed state changes (keys typed before
 * the window was armed are the page's type-ahead, never a PIN): on arming,
 * the fields drop whatever they hold, become writable and the PIN field
 * takes the focus; on disarming (blur, hidden) they are locked again.
 * @param {boolean} was armed before
 * @param {boolean} now armed now
 * @returns {{clear: boolean, unlock: boolean, lock: boolean, focus: boolean}}
 */
export function armTransition(was, now) {
  const arming = now && !was;
  const disarming = was && !now;
  return { clear: arming, unlock: arming, lock: disarming, focus: arming };
}

/**
 * Whether the window lets a key through: before it is armed only Escape
 * (cancel) and Tab; everything else, Enter included, is dropped.
 * @param {string} key KeyboardEvent.key
 * @param {boolean} isArmed
 */
export function keyAllowed(key, isArmed) {
  return isArmed || key === "Escape" || key === "Tab";
}

/**
 * Whether the buttons may act now, and if not, how long until they may
 * (null: not until the window is visible and focused again).
 * @param {Arming} a
 * @param {number} now
 * @param {number} [delay] ARM_MS
 * @returns {{armed: boolean, wait: number | null}}
 */
export function armed(a, now, delay = ARM_MS) {
  if (a.since === null || !a.visible || !a.focused) return { armed: false, wait: null };
  const left = a.since + delay - now;
  return left <= 0 ? { armed: true, wait: 0 } : { armed: false, wait: left };
}
