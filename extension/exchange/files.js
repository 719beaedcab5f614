// @ts-check
// Files of the 「公文交換」 page (docs/extension.md §9): a received document's attachments and its
// 可攜式公文 come from the background in parts of at most 512 KiB (ops `file` and `portable`,
// {name, size, offset, data (base64)}), which are checked and put together here; what the page
// does with a file (open it in a tab or only save it) is decided from its name; and the files a
// clerk attaches to a new letter are encoded for `send`. No DOM here: test/ui-exchange.test.js
// runs these in node.

import { t } from "../popup/popup.js";

/** @typedef {import("../popup/popup.js").Reply} Reply */
/** @typedef {{name?: string, size: number, offset: number, data: string}} Part */

/** The largest file the page puts together (the agent hands out attachments of at most 64 MiB). */
export const MAX_FILE_BYTES = 64 << 20;

/**
 * Standard base64 to bytes; null when it is not base64.
 * @param {string} text
 * @returns {Uint8Array | null}
 */
export function base64ToBytes(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  let binary;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Bytes to standard base64 (with padding), as Go's []byte in JSON.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function bytesToBase64(bytes) {
  let binary = "";
  const step = 0x8000; // String.fromCharCode takes its arguments on the stack
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

/**
 * Checks one part against what came before it: its offset is where the last one ended, its
 * size is the file's, it is base64 and moves on (or ends the file).
 * @param {unknown} part the `result` of a `file` or `portable` request
 * @param {number} offset where this part must start
 * @param {number | undefined} size the file's size, from the first part
 * @returns {{bytes: Uint8Array, size: number} | {error: string}}
 */
export function checkPart(part, offset, size) {
  const p = /** @type {Partial<Part>} */ (part && typeof part === "object" ? part : {});
  if (typeof p.size !== "number" || !Number.isSafeInteger(p.size) || p.size < 0) return { error: "size" };
  if (size !== undefined && p.size !== size) return { error: "size changed" };
  if (p.size > MAX_FILE_BYTES) return { error: "too large" };
  if ((p.offset ?? 0) !== offset) return { error: "offset" };
  const bytes = base64ToBytes(typeof p.data === "string" ? p.data : "");
  if (!bytes) return { error: "data" };
  if (offset + bytes.length > p.size) return { error: "longer than its size" };
  if (bytes.length === 0 && offset < p.size) return { error: "empty part" };
  return { bytes, size: p.size };
}

/**
 * Puts the parts of a file together: each must start where the last ended and together they
 * must be the file's size.
 * @param {unknown[]} parts
 * @returns {{bytes: Uint8Array} | {error: string}}
 */
export function assembleParts(parts) {
  /** @type {Uint8Array[]} */
  const pieces = [];
  let offset = 0;
  /** @type {number | undefined} */
  let size;
  for (const part of Array.isArray(parts) ? parts : []) {
    const got = checkPart(part, offset, size);
    if ("error" in got) return got;
    size = got.size;
    pieces.push(got.bytes);
    offset += got.bytes.length;
  }
  if (size === undefined) return { error: "no parts" };
  if (offset !== size) return { error: "short" };
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return { bytes: out };
}

/**
 * The error a file transfer that went wrong in the page's hands becomes (the background's own
 * errors pass through), in the page's language.
 * @param {string} why
 * @returns {import("../popup/popup.js").ReplyError}
 */
export function transferError(why) {
  const text = t("exchange_transferBroken", "檔案沒有完整傳到這個頁面（{1}）。請再試一次；若仍如此，請關閉這個分頁，再從工具列的 CardBridge 按「公文交換」開啟。", why);
  return { code: "ERR_EXCHANGE_FAILED", messageZh: text, message: text };
}

/**
 * Fetches a whole file part by part: `ask(args + {offset})` until offset + length is the size.
 * @param {(args: object) => Promise<Reply>} ask sends one `file` or `portable` request
 * @param {object} args the request's arguments without the offset
 * @returns {Promise<{bytes: Uint8Array, name: string} | {error: import("../popup/popup.js").ReplyError}>}
 */
export async function fetchWhole(ask, args) {
  /** @type {unknown[]} */
  const parts = [];
  let offset = 0;
  /** @type {number | undefined} */
  let size;
  let name = "";
  // The number of parts is bounded by the size cap; the guard also stops a background that
  // would answer the same part for ever.
  for (let n = 0; n <= MAX_FILE_BYTES / (256 << 10) + 1; n++) {
    const reply = await ask({ ...args, offset });
    if (reply.error) return { error: reply.error };
    const got = checkPart(reply.result, offset, size);
    if ("error" in got) return { error: transferError(got.error) };
    if (!name && typeof reply.result?.name === "string") name = reply.result.name;
    parts.push(reply.result);
    size = got.size;
    offset += got.bytes.length;
    if (offset >= size) {
      const whole = assembleParts(parts);
      return "error" in whole ? { error: transferError(whole.error) } : { bytes: whole.bytes, name };
    }
  }
  return { error: transferError("too many parts") };
}

/** Types a browser shows without running anything: opened in a tab. Everything else is saved. */
const VIEWABLE = {
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  bmp: "image/bmp",
  txt: "text/plain;charset=utf-8",
  csv: "text/plain;charset=utf-8",
};

/**
 * What double-clicking a file does: open it in a new tab when the browser only shows that type
 * (PDF, pictures, plain text), else save it: a file from another agency that a browser would
 * run (html, svg, js, xml …) or cannot show (odt, docx …) is never opened in the extension's
 * origin. The type given to the Blob is chosen here, never taken from the name as it is.
 * @param {string} name
 * @returns {{mode: "open" | "save", type: string}}
 */
export function openMode(name) {
  const m = /\.([A-Za-z0-9]{1,8})$/.exec(String(name || ""));
  const ext = m ? m[1].toLowerCase() : "";
  const type = Object.hasOwn(VIEWABLE, ext) ? VIEWABLE[/** @type {keyof typeof VIEWABLE} */ (ext)] : "";
  return type ? { mode: "open", type } : { mode: "save", type: "application/octet-stream" };
}

/**
 * A name to save a file under: what the sender called it, without folders, characters no
 * system takes or invisible ones; `fallback` when nothing is left.
 * @param {string} name
 * @param {string} fallback
 * @returns {string}
 */
export function saveName(name, fallback) {
  const cleaned = String(name || "")
    .replace(/[\\/:*?"<>|]/g, "_")
    .replace(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, "")
    .replace(/^[.\s]+|[.\s]+$/g, "")
    .slice(0, 150);
  return cleaned || fallback;
}

/**
 * The 可攜式公文's file name: its 發文字號, else the document's id, then `.pdf`.
 * @param {{number?: string, packageId?: string}} doc
 * @returns {string}
 */
export function portableName(doc) {
  const base = saveName(doc?.number || "", "") || saveName(doc?.packageId || "", "可攜式公文");
  return base + ".pdf";
}
