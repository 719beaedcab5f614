// @ts-check
// 發文: what the 「公文交換」 page's compose view decides (docs/extension.md §9): the letter
// templates (the first is the seed guide's 函 applying for an XCA organisation card), the
// recipients from the centre's directory (searchable; an agency whose card expired or that
// the centre suspended is shown but cannot be picked, with why), the attachments (names the
// agent accepts, at most 5 MiB in all: the native channel carries at most 8 MiB a message and
// base64 adds a third), and what is missing before 「送出」. Pure functions, tested in node.

import { t } from "../popup/popup.js";

/**
 * @typedef {object} DirectoryEntry internal/centre/api.DirectoryEntry
 * @property {string} code
 * @property {string} name
 * @property {boolean} [suspended]
 * @property {string} [expires] RFC 3339
 * @property {boolean} [expired]
 */
/** @typedef {{name: string, size: number}} Attached */

/** The most bytes of attachments one letter carries. */
export const MAX_ATTACHMENTS_BYTES = 5 << 20;

/** The seed guide's letter applying for the organisation card (its 主旨 and 說明, as the guide's sample). */
const XCA_SUBJECT = "為利辦理公文電子交換作業相關事宜，擬申請組織及團體憑證，隨文檢送憑證正卡申請書1份，請　查照。";
const XCA_BODY = "擬申請正卡1張，案件流水號為04001000000000000000ＯＯＯＯＯ號。";

/** The template ids, in the picker's order. */
export const TEMPLATE_IDS = ["xcaApplication", "blank"];

/**
 * A template's name in the picker.
 * @param {string} id
 * @returns {string}
 */
export function templateLabel(id) {
  switch (id) {
    case "xcaApplication":
      return t("exchange_templateXca", "函：申請組織及團體憑證（檢送憑證正卡申請書）");
    default:
      return t("exchange_templateBlank", "空白函");
  }
}

/**
 * What a template puts in the form: the 主旨 and 說明 (the letter's words, in Chinese whatever
 * the page's language) and a note for the clerk of what to change.
 * @param {string} id
 * @returns {{subject: string, body: string, note: string}}
 */
export function templateFill(id) {
  if (id === "xcaApplication") {
    return {
      subject: XCA_SUBJECT,
      body: XCA_BODY,
      note: t("exchange_templateXcaNote", "請把「ＯＯＯＯＯ」改成申請網站給的案件流水號，受文者勾選所屬的主管機關（例如新北市政府教育局），並附上列印蓋章後掃描的憑證正卡申請書。"),
    };
  }
  return { subject: "", body: "", note: "" };
}

/**
 * The date part of an RFC 3339 time; "" for none or Go's zero time.
 * @param {string | undefined} time
 */
function dateOf(time) {
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(time || "");
  return m && !m[1].startsWith("0001") ? m[1] : "";
}

/**
 * Text as a search matches it: NFKC (full-width digits and letters as ASCII), lower case.
 * @param {string} s
 */
function folded(s) {
  return String(s || "").normalize("NFKC").toLowerCase();
}

/**
 * The recipient list of the compose view: the directory without this agency, each entry with
 * whether it can be picked and why not, filtered by code or name (what is checked stays
 * listed, so a filter never hides a recipient the letter goes to).
 * @param {DirectoryEntry[] | null | undefined} directory
 * @param {{filter?: string, checked?: Set<string>, own?: string}} opts
 * @returns {{code: string, name: string, disabled: boolean, why: string, checked: boolean}[]}
 */
export function recipientsView(directory, opts) {
  const checked = opts.checked || new Set();
  const filter = folded(opts.filter || "").trim();
  /** @type {ReturnType<typeof recipientsView>} */
  const out = [];
  for (const e of Array.isArray(directory) ? directory : []) {
    if (!e || typeof e.code !== "string" || !e.code || e.code === opts.own) continue;
    const name = typeof e.name === "string" ? e.name : "";
    let why = "";
    if (e.suspended) {
      why = t("exchange_recipientSuspended", "交換中心已暫停這個機關的公文交換，暫時不能發文給它；請改寄紙本。");
    } else if (e.expired) {
      const day = dateOf(e.expires);
      why = day
        ? t("exchange_recipientExpired", "這個機關的憑證卡已於 {1} 到期，交換中心暫停了它的公文交換；請改寄紙本，或請它換發憑證卡。", day)
        : t("exchange_recipientExpiredNoDate", "這個機關的憑證卡已到期，交換中心暫停了它的公文交換；請改寄紙本，或請它換發憑證卡。");
    }
    const isChecked = checked.has(e.code) && !why;
    if (filter && !isChecked && !folded(e.code).includes(filter) && !folded(name).includes(filter)) continue;
    out.push({ code: e.code, name, disabled: Boolean(why), why, checked: isChecked });
  }
  return out;
}

/**
 * A size as a clerk reads it: 512 位元組, 12.5 KB, 3.2 MB.
 * @param {number} bytes
 * @returns {string}
 */
export function sizeText(bytes) {
  const n = Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
  if (n < 1024) return t("exchange_sizeBytes", "{1} 位元組", n);
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

const RESERVED = new Set(["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", ..."0123456789¹²³".split("").flatMap((d) => [`COM${d}`, `LPT${d}`])]);

/**
 * Why the agent would refuse an attachment's name (di.CheckFileName's rules), or "".
 * @param {string} name
 * @returns {string}
 */
export function fileNameProblem(name) {
  const n = String(name ?? "");
  if (n === "" || n === "." || n === "..") return t("exchange_nameEmpty", "附件沒有檔名，請先替檔案取名再附加。");
  if (new TextEncoder().encode(n).length > 200) return t("exchange_nameLong", "附件檔名「{1}」太長，請改短一點（中文約 60 字以內）再附加。", n.slice(0, 40) + "…");
  if (/[/\\:*?"<>|]/.test(n)) return t("exchange_nameReserved", "附件檔名「{1}」含有資料夾符號或 Windows 不允許的字元（例如 / : * ? < > |），請改名後再附加。", n);
  if (/^\s|[\s.]$/.test(n)) return t("exchange_nameEdges", "附件檔名「{1}」的開頭或結尾是空白或句點，請改名後再附加。", n);
  if (/[\p{Cc}\p{Cf}\u2028\u2029\ufffd]/u.test(n)) return t("exchange_nameInvisible", "附件檔名含有看不見的控制字元，請改名後再附加。");
  const base = n.replace(/\.[^.]*$/, "").trim().toUpperCase().split(".")[0];
  if (RESERVED.has(base)) return t("exchange_nameDevice", "附件檔名「{1}」是 Windows 保留的裝置名稱，請改名後再附加。", n);
  return "";
}

/**
 * Adds the files a clerk picked to the attachments: each keeps its own name; a name already
 * attached, a name the agent refuses, or one that takes the total past 5 MiB is left out, with a
 * sentence that says which and what to do.
 * @template {Attached} F
 * @param {F[]} current
 * @param {F[]} picked
 * @returns {{list: F[], problems: string[]}}
 */
export function addAttachments(current, picked) {
  const list = [...current];
  const problems = [];
  let total = list.reduce((s, f) => s + f.size, 0);
  for (const f of picked) {
    const bad = fileNameProblem(f.name);
    if (bad) {
      problems.push(bad);
      continue;
    }
    if (list.some((g) => g.name === f.name)) {
      problems.push(t("exchange_attachDuplicate", "已經附加了同名的檔案「{1}」。若要換成新的，請先移除舊的再附加。", f.name));
      continue;
    }
    if (total + f.size > MAX_ATTACHMENTS_BYTES) {
      problems.push(
        t(
          "exchange_attachTooLarge",
          "「{1}」（{2}）沒有附加：附件合計不能超過 5 MB，目前已有 {3}。請縮小檔案（例如掃描時降低解析度）或分成幾份公文寄送。",
          f.name,
          sizeText(f.size),
          sizeText(total),
        ),
      );
      continue;
    }
    list.push(f);
    total += f.size;
  }
  return { list, problems };
}

/**
 * The attachments' line under the list: how much is attached of the 5 MB allowed.
 * @param {Attached[]} list
 * @returns {{total: number, text: string, over: boolean}}
 */
export function attachmentsTotal(list) {
  const total = list.reduce((s, f) => s + f.size, 0);
  return {
    total,
    over: total > MAX_ATTACHMENTS_BYTES,
    text: list.length ? t("exchange_attachTotal", "共 {1} 個檔案，{2}（上限 5 MB）", list.length, sizeText(total)) : t("exchange_attachNone", "沒有附件"),
  };
}

/** 發文字號 as di.ParseNumber reads it: 字, 第, the ROC year (3 digits) and the serial, 號. */
const NUMBER = /^(.+字)第(\d{3})(\d{1,10})(?:-(\d{1,5}))?號$/;

/**
 * @typedef {object} Draft
 * @property {string[]} to
 * @property {string} subject
 * @property {string} number
 * @property {string} body
 * @property {Attached[]} files
 */

/**
 * What stops a draft from being sent, one sentence each (empty: it can be sent).
 * @param {Draft} d
 * @returns {string[]}
 */
export function composeProblems(d) {
  const out = [];
  if (!d.to.length) out.push(t("exchange_needRecipient", "請在「受文機關」至少勾選一個機關。"));
  if (!d.subject.trim()) out.push(t("exchange_needSubject", "請填寫主旨。"));
  const number = d.number.trim().normalize("NFKC");
  if (number && !NUMBER.test(number)) out.push(t("exchange_badNumber", "發文字號請寫成「○○字第1150012345號」（字、第、民國年 3 位數與流水號、號）；不填則由系統自動編號。"));
  if (/[Ｏ○]{2,}/.test(d.subject + d.body)) out.push(t("exchange_placeholderLeft", "主旨或說明中還有範本的「ＯＯ」，請改成貴單位的資料後再送出。"));
  if (attachmentsTotal(d.files).over) out.push(t("exchange_attachOver", "附件合計超過 5 MB，請移除或縮小部分檔案。"));
  return out;
}

/**
 * The `send` request's arguments: the subject and body trimmed, the number as written (NFKC:
 * full-width digits become ASCII), the files' bytes in base64 by the caller.
 * @param {Draft} d
 * @param {{name: string, data: string}[]} files
 */
export function sendArgs(d, files) {
  return {
    to: [...d.to],
    subject: d.subject.trim(),
    number: d.number.trim().normalize("NFKC"),
    body: d.body.replace(/\r\n/g, "\n").trim(),
    files,
  };
}
