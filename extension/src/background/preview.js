// @ts-check
/**
 * What the PIN window shows of a request (docs/extension.md §5): for a
 * signature, its format, size, SHA-256 fingerprint and, when the data is
 * UTF-8 text, its first lines; for a digest alone, the digest and a warning;
 * for a decryption, the size and who gets the result. The bytes are decoded
 * as strictly as the host decodes them (standard base64 with padding), so
 * what is shown is what the card would sign.
 */

import { CodedError } from "../codes.js";

/** The first lines of a text that the PIN window shows. */
export const PREVIEW_LINES = 20;
/** …and at most this many characters of them. */
export const PREVIEW_CHARS = 4000;

const B64 = /^(?:[+/0-9A-Za-z]{4})*(?:[+/0-9A-Za-z]{2}==|[+/0-9A-Za-z]{3}=)?$/;

/**
 * Standard base64 with padding and nothing else, canonical (as the host's
 * protocol.Bytes); ERR_BAD_ARGUMENT with the host's reason otherwise.
 * @param {unknown} s
 * @param {string} argument the argument's name, for the error
 * @returns {Uint8Array}
 */
export function decodeBase64(s, argument) {
  const bad = () => new CodedError("ERR_BAD_ARGUMENT", { argument, reason: "must be standard base64 with padding" });
  if (typeof s !== "string" || !B64.test(s)) throw bad();
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Canonical: the unused bits of the last character are zero (Go's Strict()).
  if (btoa(bin) !== s) throw bad();
  return out;
}

/**
 * Lower-case hex.
 * @param {Uint8Array} b
 */
export function hex(b) {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/**
 * SHA-256 of b, lower-case hex.
 * @param {Uint8Array} b
 * @returns {Promise<string>}
 */
export async function sha256Hex(b) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", /** @type {BufferSource} */ (b))));
}

/** Controls that make data "not text": C0 but tab, LF, CR; DEL; C1. */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;
/** Invisible characters that could change how the text reads (bidi overrides, zero-width, soft hyphen, line separators): shown as ⟦U+XXXX⟧. */
const INVISIBLE = /[\p{Cf}\u2028\u2029]/gu;

/**
 * The first lines of bytes when they are UTF-8 text (no control characters
 * but tab and line ends), else null. Invisible format characters are made
 * visible, so that the text reads as the card signs it.
 * @param {Uint8Array} bytes
 * @returns {{text: string, lines: number, shown: number, truncated: boolean} | null}
 */
export function textPreview(bytes) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
  if (CONTROL.test(text)) return null;
  const all = text.split(/\r\n|\n|\r/);
  if (all.length > 1 && all[all.length - 1] === "") all.pop();
  let shownLines = all.slice(0, PREVIEW_LINES);
  let shown = shownLines.join("\n");
  let truncated = all.length > PREVIEW_LINES;
  if (shown.length > PREVIEW_CHARS) {
    shown = shown.slice(0, PREVIEW_CHARS);
    // Not in the middle of a surrogate pair.
    if (/[\uD800-\uDBFF]$/.test(shown)) shown = shown.slice(0, -1);
    shownLines = shown.split("\n");
    truncated = true;
  }
  shown = shown.replace(INVISIBLE, (c) => `⟦U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}⟧`);
  return { text: shown, lines: all.length, shown: shownLines.length, truncated };
}

/**
 * What the PIN window shows of a sign request.
 * @param {Record<string, any>} args the page's arguments
 * @returns {Promise<import("./sessions.js").SignContent>}
 */
export async function signContent(args) {
  const format = args.format === "cms" ? "cms" : "raw";
  const hashAlgorithm = String(args.hashAlgorithm ?? "");
  if (args.data !== undefined && args.digest !== undefined) {
    throw new CodedError("ERR_BAD_ARGUMENT", { argument: "digest", reason: "give exactly one of digest and data" });
  }
  if (args.data !== undefined) {
    const bytes = decodeBase64(args.data, "data");
    return { kind: "sign", format, hashAlgorithm, digestOnly: false, size: bytes.length, sha256: await sha256Hex(bytes), text: textPreview(bytes) };
  }
  const digest = decodeBase64(args.digest, "digest");
  return { kind: "sign", format, hashAlgorithm, digestOnly: true, size: digest.length, digest: hex(digest) };
}

/**
 * What the PIN window shows of a decrypt request.
 * @param {Record<string, any>} args
 * @param {string | null} origin who gets the plaintext
 * @returns {Promise<import("./sessions.js").DecryptContent>}
 */
export async function decryptContent(args, origin) {
  const bytes = decodeBase64(args.ciphertext, "ciphertext");
  return { kind: "decrypt", size: bytes.length, for: origin };
}
