// @ts-check
// 收文內容預覽: a received DI (the `letter` op's di.Letter, Go field names) laid out as the paper
// 函 (docs/extension.md §9): the header with the sender's 全銜, address and contacts, 受文者, the
// date, 發文字號, 速別 and 密等 when present, 附件, 主旨, the 段落 with their numbered items,
// 正本 and 副本, 署名. No seal: this is the preview, not the 可攜式公文. The words of the letter's
// own layout (發文日期, 主旨 …) are the 函's and stay in Chinese whatever the page's language, as
// on paper. The page renders every string with textContent: the letter comes from another agency.

/**
 * @typedef {object} Party
 * @property {string} [Name]
 * @property {string} [Code]
 * @property {boolean} [WithAttachments]
 */
/** @typedef {{Entity?: string, Name?: string, Notation?: string}} DiFile */
/** @typedef {{Number?: string, Text?: string, Items?: Item[] | null}} Item */
/** @typedef {{Title?: string, Text?: string, Items?: Item[] | null}} Paragraph */
/**
 * @typedef {object} Letter internal/exchange/di.Letter as encoding/json writes it
 * @property {string} [DocType]
 * @property {Party} [Sender]
 * @property {string} [Kind]
 * @property {string} [Address]
 * @property {string[] | null} [Contacts]
 * @property {Party & {RosterText?: string}} [Recipient]
 * @property {string} [Date]
 * @property {{Word?: string, Year?: string, Serial?: string, Branch?: string}} [Number]
 * @property {string} [Speed]
 * @property {string} [Secrecy]
 * @property {string} [SecrecyTerms]
 * @property {{Text?: string, Files?: DiFile[] | null}} [Attachment]
 * @property {string} [Subject]
 * @property {Paragraph[] | null} [Paragraphs]
 * @property {Party[] | null} [Originals]
 * @property {Party[] | null} [Copies]
 * @property {string} [Signature]
 */
/** @typedef {{number: string, text: string, items: ItemView[]}} ItemView */
/**
 * @typedef {object} LetterView
 * @property {string} title 全銜 and 函
 * @property {string[]} head the address and contact lines
 * @property {string} recipient 受文者
 * @property {{key: string, label: string, value: string}[]} fields 發文日期, 發文字號, 速別, 密等, 附件
 * @property {string} subject
 * @property {{title: string, text: string, items: ItemView[]}[]} paragraphs
 * @property {string} originals 正本, names joined
 * @property {string} copies 副本
 * @property {string} signature
 */

/** Bidirectional controls would show one text as another: they are written out instead. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A string of the letter as it may be shown: trimmed, bidi controls written as ⟦U+202E⟧.
 * @param {unknown} s
 * @returns {string}
 */
export function visible(s) {
  if (typeof s !== "string") return "";
  return s.trim().replace(BIDI, (c) => `⟦U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}⟧`);
}

/**
 * 發文字號 as printed, like di.DocNumber.String: 東區民字第1150004321號 (with -支號).
 * @param {Letter["Number"]} n
 * @returns {string}
 */
export function docNumberText(n) {
  const word = visible(n?.Word);
  const num = visible(n?.Year) + visible(n?.Serial);
  if (!word && !num) return "";
  const branch = visible(n?.Branch);
  return `${word}第${num}${branch ? "-" + branch : ""}號`;
}

/**
 * The names of 正本 or 副本, with 含附件 where it says so.
 * @param {Party[] | null | undefined} parties
 * @returns {string}
 */
export function partiesText(parties) {
  return (Array.isArray(parties) ? parties : [])
    .map((p) => {
      const name = visible(p?.Name) || visible(p?.Code);
      return name && p?.WithAttachments ? `${name}（含附件）` : name;
    })
    .filter(Boolean)
    .join("、");
}

/**
 * The 附件 line: the letter's text (如主旨, 附件2份 …) and the files it declares.
 * @param {Letter["Attachment"]} a
 * @returns {string}
 */
export function attachmentLine(a) {
  const text = visible(a?.Text);
  const names = (Array.isArray(a?.Files) ? a.Files : []).map((f) => visible(f?.Name) || visible(f?.Entity)).filter(Boolean);
  if (!names.length) return text;
  return text ? `${text}（${names.join("、")}）` : names.join("、");
}

/**
 * @param {Item[] | null | undefined} items
 * @param {number} depth
 * @returns {ItemView[]}
 */
function itemViews(items, depth) {
  if (!Array.isArray(items) || depth > 32) return [];
  return items.map((i) => ({ number: visible(i?.Number), text: visible(i?.Text), items: itemViews(i?.Items, depth + 1) }));
}

/**
 * A 段名 as the 函 prints it, with its colon: 說明 → 說明：
 * @param {string} title
 */
function paragraphTitle(title) {
  const t = visible(title);
  return !t || /[：:]$/.test(t) ? t : t + "：";
}

/**
 * The blocks of the 收文內容預覽, in the paper 函's order; parts the letter lacks are empty (the
 * page leaves them out) except 受文者, 發文日期, 發文字號 and 主旨, which every 函 has.
 * @param {Letter | null | undefined} letter
 * @returns {LetterView}
 */
export function letterView(letter) {
  const l = letter && typeof letter === "object" ? letter : {};
  const head = [];
  if (visible(l.Address)) head.push("地址：" + visible(l.Address));
  for (const c of Array.isArray(l.Contacts) ? l.Contacts : []) if (visible(c)) head.push(visible(c));
  /** @type {LetterView["fields"]} */
  const fields = [
    { key: "date", label: "發文日期", value: visible(l.Date) },
    { key: "number", label: "發文字號", value: docNumberText(l.Number) },
  ];
  if (visible(l.Speed)) fields.push({ key: "speed", label: "速別", value: visible(l.Speed) });
  if (visible(l.Secrecy)) {
    const terms = visible(l.SecrecyTerms);
    fields.push({ key: "secrecy", label: "密等及解密條件或保密期限", value: visible(l.Secrecy) + (terms ? `（${terms}）` : "") });
  }
  const att = attachmentLine(l.Attachment);
  if (att) fields.push({ key: "attachment", label: "附件", value: att });
  const kind = visible(l.Kind) || visible(l.DocType) || "函";
  return {
    title: [visible(l.Sender?.Name), kind].filter(Boolean).join(" "),
    head,
    recipient: visible(l.Recipient?.Name) || visible(l.Recipient?.RosterText) || visible(l.Recipient?.Code),
    fields,
    subject: visible(l.Subject),
    paragraphs: (Array.isArray(l.Paragraphs) ? l.Paragraphs : []).map((p) => ({
      title: paragraphTitle(p?.Title || ""),
      text: visible(p?.Text),
      items: itemViews(p?.Items, 1),
    })),
    originals: partiesText(l.Originals),
    copies: partiesText(l.Copies),
    signature: visible(l.Signature),
  };
}

/**
 * The names of the attachment files a letter declares (what the `file` op serves).
 * @param {Letter | null | undefined} letter
 * @returns {string[]}
 */
export function declaredFiles(letter) {
  const files = letter?.Attachment?.Files;
  return (Array.isArray(files) ? files : []).map((f) => (typeof f?.Name === "string" ? f.Name : "")).filter(Boolean);
}
