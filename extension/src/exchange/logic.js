// @ts-check
/**
 * The 「公文交換」 page's logic that needs no browser (issue 12): the
 * 機關代碼 checked as the clerk types it, the 收發文狀態表's default period,
 * each status's words and meaning as the seed guide's table gives them, and
 * a 收文異常's reason in words a clerk can act on. The page (next) and its
 * tests use these; the agent (internal/exchange/agent) decides the states
 * and reasons, these only say them.
 */

/** The 統一編號 checksum weights (財政部財政資訊中心). */
const WEIGHTS = [1, 2, 1, 2, 1, 2, 4, 1];

/**
 * Whether an 8-digit 統一編號 passes its check digit under the rule in force
 * since 2023-04-01 (weighted digit sum divisible by 5; when the 7th digit
 * is 7, sum+1 also counts), as internal/certinfo.ValidUBN.
 * @param {string} ubn
 */
export function validUBN(ubn) {
  if (!/^[0-9]{8}$/.test(ubn)) return false;
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const p = Number(ubn[i]) * WEIGHTS[i];
    sum += Math.floor(p / 10) + (p % 10);
  }
  return sum % 5 === 0 || (ubn[6] === "7" && (sum + 1) % 5 === 0);
}

/**
 * @typedef {object} CodeState
 * @property {"empty"|"typing"|"ok"|"bad"} state
 * @property {string} value the code as it will be saved (upper case, no spaces)
 * @property {string} messageZh
 * @property {string} message
 */

/**
 * The 機關代碼 field as the clerk types it: upper-cased, spaces dropped;
 * "typing" while it can still become a code, "bad" as soon as it cannot
 * (a character that no code has, or an XC code whose 統一編號 fails its
 * check digit), "ok" when whole.
 * @param {string} typed
 * @returns {CodeState}
 */
export function agencyCodeState(typed) {
  const value = String(typed).replace(/\s+/g, "").toUpperCase();
  if (value === "") return { state: "empty", value, messageZh: "請輸入機關代碼（XC 加統一編號）。", message: "Type the agency code (XC and the 統一編號)." };
  if (!/^[0-9A-Z]+$/.test(value)) {
    return { state: "bad", value, messageZh: "機關代碼只有數字與英文字母。", message: "An agency code has only digits and letters." };
  }
  if (value.length > 17) {
    return { state: "bad", value, messageZh: "機關代碼最多 10 碼（再加 7 碼以內的單位代碼）。", message: "An agency code is 10 characters (plus a unit code of up to 7)." };
  }
  if (value.startsWith("XC") || "XC".startsWith(value)) {
    const ubn = value.slice(2, 10);
    if (/[^0-9]/.test(ubn)) {
      return { state: "bad", value, messageZh: "XC 之後是 8 位數字的統一編號。", message: "After XC come the 8 digits of the 統一編號." };
    }
    if (value.length < 10) return { state: "typing", value, messageZh: "", message: "" };
    if (!validUBN(ubn)) {
      return {
        state: "bad", value,
        messageZh: `統一編號 ${ubn} 的檢查碼不正確，請再核對一次。`,
        message: `The 統一編號 ${ubn} fails its check digit; check it again.`,
      };
    }
    return { state: "ok", value, messageZh: "", message: "" };
  }
  if (value.length < 10) return { state: "typing", value, messageZh: "", message: "" };
  return { state: "ok", value, messageZh: "", message: "" };
}

/**
 * The 收發文狀態表's period: from 00:00 of `from` to 23:59:59 of `to`
 * (YYYY-MM-DD, local time); today when both are empty, as eClient opens.
 * @param {string} from
 * @param {string} to
 * @param {Date} now
 * @returns {{start: Date, end: Date} | {error: string, errorZh: string}}
 */
export function dayRange(from, to, now) {
  /** @param {string} s @param {Date} d */
  const day = (s, d) => {
    if (!s) return new Date(d.getFullYear(), d.getMonth(), d.getDate());
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    if (!m) return null;
    const t = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    return t.getMonth() === Number(m[2]) - 1 ? t : null;
  };
  const start = day(from, now);
  const last = day(to, now);
  if (!start || !last) return { error: "A date is written 2026-12-06.", errorZh: "日期請寫成 2026-12-06。" };
  if (last < start) return { error: "The period ends before it starts.", errorZh: "結束日期早於開始日期。" };
  const end = new Date(last.getFullYear(), last.getMonth(), last.getDate(), 23, 59, 59, 999);
  return { start, end };
}

/**
 * @typedef {object} StatusText
 * @property {string} label eClient's name
 * @property {string} meaningZh what it means, as the hover says it
 * @property {string} meaning
 * @property {string} [senderSeesZh] for a receiver status: what the sender sees
 */

/** @type {Record<string, StatusText>} The receiver's statuses (the seed's table). */
const RECEIVED = {
  arrived: { label: "公文到達", meaningZh: "已收到公文，系統處理中；尚無法查看內容。", meaning: "The document has arrived and is being processed; it cannot be read yet.", senderSeesZh: "系統確認" },
  downloading: { label: "收文下載處理中", meaningZh: "已收到公文，系統處理中；尚無法查看內容。", meaning: "The document is being downloaded and opened; it cannot be read yet.", senderSeesZh: "系統確認" },
  completed: { label: "收文完成", meaningZh: "完成收文程序，可查看公文、列印及其他作業。", meaning: "Received: it can be read and printed.", senderSeesZh: "使用者確認" },
  failed: { label: "收文異常", meaningZh: "這份公文異常或其他原因無法完成收文。", meaning: "The document could not be received.", senderSeesZh: "使用者退文" },
  returned: { label: "已退文", meaningZh: "本機關已將這份公文退回發文機關，並附理由。", meaning: "This agency returned the document to the sender, with a reason.", senderSeesZh: "使用者退文" },
};

/** @type {Record<string, StatusText>} The sender's per-recipient statuses. */
const SENT = {
  queued: { label: "待送出", meaningZh: "已簽章加密，等待送到交換中心。", meaning: "Signed and sealed, waiting to go to the centre." },
  sending: { label: "傳送中", meaningZh: "正在送到交換中心。", meaning: "Being sent to the centre." },
  retrying: { label: "重試中", meaningZh: "交換中心暫時連不上，稍後自動再送，不必重新發文。", meaning: "The centre could not be reached; it is sent again by itself, no need to send it again." },
  failed: { label: "傳送失敗", meaningZh: "多次重送仍未成功，請檢查網路或聯絡交換中心後重新發文。", meaning: "It could not be sent after several tries; check the network or the centre, then send it again." },
  "system-confirmed": { label: "系統確認", meaningZh: "受文機關的系統已收到，尚未完成收文。", meaning: "The recipient's system has it; not yet received." },
  "user-confirmed": { label: "使用者確認", meaningZh: "受文機關已完成收文。", meaning: "The recipient has received it." },
  "user-returned": { label: "使用者退文", meaningZh: "受文機關無法收文或已退文，理由如下；請依理由重新發送或補送紙本。", meaning: "The recipient could not receive it or returned it (the reason follows); send it again or on paper." },
};

/**
 * A status's words and meaning; side "in" for the 收文匣, "out" for the
 * 發文匣. An unknown state is shown as it is.
 * @param {string} state
 * @param {"in"|"out"} side
 * @returns {StatusText}
 */
export function statusText(state, side) {
  const t = (side === "in" ? RECEIVED : SENT)[state];
  return t ?? { label: state, meaningZh: "", meaning: "" };
}

/** The receiver statuses and the sender statuses, for tests and legends. */
export const RECEIVED_STATES = Object.keys(RECEIVED);
export const SENT_STATES = Object.keys(SENT);

/** What a 收文異常 means for the clerk, by the agent's reason code. */
const REASONS = {
  "not-for-us": ["這份公文不是給本機關的。", "The document was not addressed to this agency."],
  "cannot-decrypt": ["無法以本機關的憑證卡解開這份公文。", "The document could not be opened with this agency's card."],
  "bad-signature": ["發文機關的簽章不正確，內容可能遭竄改。", "The sender's signature does not verify; the content may have been changed."],
  "untrusted-signer": ["簽章的憑證不是受信任的憑證機構所發。", "It was signed with a certificate of an untrusted authority."],
  "certificate-expired": ["發文機關的憑證已過期或尚未生效。", "The sender's certificate has expired or is not yet valid."],
  "wrong-sender": ["簽章的機關與發文機關不符。", "It was signed by another agency than the one named as sender."],
  tampered: ["公文內容與簽章不符。", "The content does not match the signature."],
  "unsafe-name": ["附件檔名不安全，未存檔。", "An attachment's name is unsafe; nothing was saved."],
  "too-large": ["公文過大。", "The document is too large."],
  malformed: ["公文格式錯誤。", "The document is malformed."],
  expired: ["公文已超過交換中心的保存期限。", "The document passed the centre's retention period."],
};

/** The reason codes the agent gives a 收文異常 (the part before the colon). */
export const REFUSAL_CODES = Object.keys(REASONS);

/**
 * A 收文異常's reason ("bad-signature: …" as the agent records it) in words
 * a clerk understands, with what happens next: the seed's table says the
 * sender resends the document or sends it on paper, and the receiver need
 * do nothing.
 * @param {string} reason
 * @returns {{zh: string, en: string, nextZh: string, next: string}}
 */
export function refusalText(reason) {
  const code = String(reason).split(":")[0].trim();
  const [zh, en] = REASONS[/** @type {keyof typeof REASONS} */ (code)] ?? ["無法完成收文（" + String(reason).slice(0, 120) + "）。", "The document could not be received (" + String(reason).slice(0, 120) + ")."];
  return {
    zh, en,
    nextZh: "發文機關會看到「使用者退文」及理由，並會重新發送或補送紙本；本機關不需做任何動作。",
    next: "The sender sees 使用者退文 with the reason and sends it again or on paper; nothing to do here.",
  };
}
