// @ts-check
// Generated from internal/protocol/codes.go by `go test ./internal/protocol -run TestExtensionCodes -update`; do not edit.

/**
 * The host's error codes and their texts (protocol.Messages), in the order of
 * protocol.Codes (docs/protocol.md §5). src/codes.js adds the extension's own.
 * @type {Readonly<Record<string, Readonly<{en: string, zh: string}>>>}
 */
export const hostTexts = Object.freeze({
  ERR_NO_SERVICE: Object.freeze({
    en: "The smart card service is not running. Restart the computer; if that does not help, start the \"Smart Card\" service in Windows Services (Linux: sudo systemctl start pcscd).",
    zh: "智慧卡服務沒有執行。請重新開機；若仍失敗，請在 Windows「服務」中啟動「Smart Card」（Linux：sudo systemctl start pcscd）。",
  }),
  ERR_NO_READER: Object.freeze({
    en: "No card reader was found. Plug the reader into a USB port, wait 10 seconds and try again.",
    zh: "找不到讀卡機。請將讀卡機插上電腦的 USB 孔，等候 10 秒後再試一次。",
  }),
  ERR_NO_CARD: Object.freeze({
    en: "There is no card in the reader. Insert the certificate card, chip side up, and try again.",
    zh: "讀卡機中沒有 IC 卡。請將憑證 IC 卡晶片朝上插入讀卡機後再試一次。",
  }),
  ERR_CARD_REMOVED: Object.freeze({
    en: "The card was removed during the operation, which did not complete. Insert the card again and repeat; leave it in until it finishes.",
    zh: "作業途中卡片被取出，這次作業沒有完成。請插回卡片後重新操作，完成前不要取出。",
  }),
  ERR_CARD_RESET: Object.freeze({
    en: "Another program reset the card, so the operation did not complete. Please try again.",
    zh: "卡片被其他程式重置，這次作業沒有完成。請再試一次。",
  }),
  ERR_READER_UNAVAILABLE: Object.freeze({
    en: "The reader stopped responding or was unplugged. Unplug it, plug it back in and try again.",
    zh: "讀卡機沒有回應或已被拔除。請拔下讀卡機再插回後再試一次。",
  }),
  ERR_CARD_IN_USE: Object.freeze({
    en: "Another program is using the card. Close other card programs and try again.",
    zh: "卡片正被其他程式使用。請關閉其他讀卡程式後再試一次。",
  }),
  ERR_CARD_UNRESPONSIVE: Object.freeze({
    en: "The card does not respond. Take it out, check that the chip faces up and insert it again.",
    zh: "卡片沒有回應。請取出卡片，確認晶片朝上後重新插入。",
  }),
  ERR_UNSUPPORTED_CARD: Object.freeze({
    en: "This is not a certificate card CardBridge can use. Check that you inserted the certificate card (not a health insurance or bank card).",
    zh: "這張卡不是可使用的憑證 IC 卡。請確認插入的是憑證卡（不是健保卡或金融卡）。",
  }),
  ERR_PIN_INCORRECT: Object.freeze({
    en: "Wrong PIN. Check it before trying again; 3 wrong PINs in a row block the card.",
    zh: "PIN 碼錯誤。請確認後再輸入；連續輸錯 3 次卡片會鎖住。",
  }),
  ERR_PIN_BLOCKED: Object.freeze({
    en: "The PIN is blocked (or this new card is not activated yet). Unblock it with the PUK and set a new PIN; without a PUK, contact the card issuer.",
    zh: "PIN 碼已鎖住（或新卡尚未開卡）。請用 PUK 解鎖並設定新 PIN 碼；沒有 PUK 請洽發卡單位。",
  }),
  ERR_PUK_INCORRECT: Object.freeze({
    en: "Wrong PUK. The PUK is on the PIN letter from the card issuer; 3 wrong PUKs in a row block it too.",
    zh: "PUK 錯誤。PUK 在發卡單位寄來的密碼函上；連續輸錯 3 次 PUK 也會鎖住。",
  }),
  ERR_PUK_BLOCKED: Object.freeze({
    en: "The PUK is blocked and cannot be unblocked here. Contact the card issuer.",
    zh: "PUK 已鎖住，無法自行解鎖。請洽發卡單位辦理。",
  }),
  ERR_PIN_FORMAT: Object.freeze({
    en: "The PIN must be 6 to 8 letters or digits (the PUK 8). Nothing was sent to the card, so no try was used.",
    zh: "PIN 碼須為 6 到 8 個英文字母或數字（PUK 為 8 個）。這次沒有送到卡片，不會扣嘗試次數。",
  }),
  ERR_UNKNOWN_CERTIFICATE: Object.freeze({
    en: "The requested certificate is not on the card; the card may have been changed. Reload the page and try again.",
    zh: "卡片上找不到指定的憑證，可能已換了一張卡。請重新整理頁面後再試。",
  }),
  ERR_UNSUPPORTED_ALGORITHM: Object.freeze({
    en: "The card's key does not support the requested algorithm. Contact the site's administrator.",
    zh: "這張卡的金鑰不支援所要求的演算法。請洽網站管理者。",
  }),
  ERR_DECRYPT_FAILED: Object.freeze({
    en: "Could not decrypt: the data was not encrypted for this card's encryption certificate. Check that the sender used your current certificate.",
    zh: "無法解密：資料不是用這張卡的加密憑證加密的。請確認寄件者使用的是您目前的憑證。",
  }),
  ERR_TIMEOUT: Object.freeze({
    en: "The wait timed out. Please try again.",
    zh: "等候逾時。請再試一次。",
  }),
  ERR_CANCELLED: Object.freeze({
    en: "The operation was cancelled.",
    zh: "作業已取消。",
  }),
  ERR_INTERNAL: Object.freeze({
    en: "An unexpected error occurred. Try again; if it keeps happening, give the log file to your IT staff.",
    zh: "發生未預期的錯誤。請再試一次；若一再發生，請將記錄檔提供給資訊人員。",
  }),
  ERR_MESSAGE_TOO_LARGE: Object.freeze({
    en: "The page sent too much data (the limit is 8 MB), so nothing was done. Send a smaller file, or ask the site to sign a digest instead.",
    zh: "網頁送出的資料太大（上限 8 MB），沒有處理。請改送較小的檔案，或請網站改為先計算雜湊值再簽章。",
  }),
  ERR_BAD_MESSAGE: Object.freeze({
    en: "A malformed request was received and ignored. Reload the page; if it happens again, tell the site's administrator.",
    zh: "收到格式不正確的要求，沒有處理。請重新整理頁面；若仍發生，請通知網站管理者。",
  }),
  ERR_UNKNOWN_COMMAND: Object.freeze({
    en: "CardBridge does not know this request; it may be out of date. Update CardBridge and try again.",
    zh: "CardBridge 不認得這個要求，可能是版本太舊。請更新 CardBridge 後再試。",
  }),
  ERR_BAD_ARGUMENT: Object.freeze({
    en: "The page's request has an invalid value and was not carried out. Reload the page; if it happens again, tell the site's administrator.",
    zh: "網頁送出的要求內容不正確，沒有處理。請重新整理頁面；若仍發生，請通知網站管理者。",
  }),
  ERR_MISSING_ARGUMENT: Object.freeze({
    en: "The page's request lacks a required value and was not carried out. Tell the site's administrator.",
    zh: "網頁送出的要求缺少必要資料，沒有處理。請通知網站管理者。",
  }),
  ERR_BAD_ORIGIN: Object.freeze({
    en: "This page's address is not a secure (https) origin, or is malformed, so it may not use the card. Check that the address starts with https://.",
    zh: "這個網頁的位址不是安全連線（https）或格式不正確，不能使用憑證卡。請確認網址以 https:// 開頭。",
  }),
  ERR_CALLER_NOT_ALLOWED: Object.freeze({
    en: "CardBridge was started by an extension that is not CardBridge, and refused it. Reinstall CardBridge from your browser's extension store.",
    zh: "啟動 CardBridge 的瀏覽器擴充功能不是 CardBridge 本身，已拒絕。請從瀏覽器的擴充功能商店重新安裝 CardBridge。",
  }),
  ERR_BUSY: Object.freeze({
    en: "Too many requests at once. Wait for the current ones to finish and try again.",
    zh: "同時進行的要求太多。請等目前的作業完成後再試。",
  }),
  ERR_RESPONSE_TOO_LARGE: Object.freeze({
    en: "The result is too large to return to the browser. Tell the site's administrator.",
    zh: "結果太大，無法傳回瀏覽器。請通知網站管理者。",
  }),
  ERR_CERTIFICATE_USAGE: Object.freeze({
    en: "This certificate cannot be used for this operation (the signing certificate signs and logs in, the encryption certificate decrypts). Reload the page and try again.",
    zh: "這張憑證不能用於這項作業（簽章憑證只能簽章與登入，加密憑證只能解密）。請重新整理頁面後再試。",
  }),
  ERR_NOT_ALLOWED: Object.freeze({
    en: "This site may not ask for this operation: raw signatures and decryption are open only to sites your IT staff have listed, so your card was not used. If this is your organisation's own site, contact your IT staff.",
    zh: "這個網站不能要求這項作業：原始簽章與解密只開放給資訊人員指定的網站，沒有使用您的憑證卡。若這是貴單位的業務網站，請洽資訊人員。",
  }),
  ERR_UNBLOCK_ELSEWHERE: Object.freeze({
    en: "This card's PIN cannot be unblocked with the PUK on this computer; it must be done through the card issuer's online service (MOICA: https://moica.nat.gov.tw/; XCA: https://xca.nat.gov.tw/; MOEACA: https://moeaca.nat.gov.tw/) or at the issuer's office. The card was not changed.",
    zh: "這張卡的 PIN 碼不能在這台電腦上用 PUK 解鎖，必須透過發卡單位的線上服務辦理（自然人憑證：https://moica.nat.gov.tw/；組織及團體憑證：https://xca.nat.gov.tw/；工商憑證：https://moeaca.nat.gov.tw/），或洽發卡單位。卡片沒有被變更。",
  }),
  ERR_HICOS_CLIENT_NEEDED: Object.freeze({
    en: "This is a Chunghwa Telecom HiCOS card (MOICA, MOEACA, XCA or GCA). CardBridge can read its certificates, but signing, decrypting and changing the PIN need the HiCOS PKI Smart Card client. Install it from https://moica.nat.gov.tw/download_1.html, reinsert the card and try again.",
    zh: "這張是中華電信 HiCOS 卡（自然人憑證、工商憑證、組織及團體憑證或政府憑證）。CardBridge 讀得到卡上的憑證，但簽章、解密和變更 PIN 碼需要「HiCOS PKI Smart Card 用戶端程式」。請從 https://moica.nat.gov.tw/download_1.html 下載安裝，重新插入卡片後再試一次。",
  }),
  ERR_CERTIFICATE_AMBIGUOUS: Object.freeze({
    en: "Cards in two readers show the same certificate, so one of them is not your card. To keep your PIN from reaching someone else's card, nothing was done. Take out the card you do not use or do not know, keep only your own certificate card in, and try again.",
    zh: "兩台讀卡機裡的卡片有同一張憑證，其中一張不是您的憑證卡。為了不把 PIN 碼送到別人的卡片，這項作業沒有進行。請取出您不用或來路不明的卡片，只留自己的憑證卡，再試一次。",
  }),
  ERR_EXCHANGE_UNAVAILABLE: Object.freeze({
    en: "The document exchange program (cardbridge-exchange) is not installed or has stopped. Open the document exchange page again; if that does not help, reinstall CardBridge.",
    zh: "公文交換程式（cardbridge-exchange）沒有安裝或已停止。請重新開啟「公文交換」頁面；若仍失敗，請重新安裝 CardBridge。",
  }),
  ERR_EXCHANGE_LOGIN_NEEDED: Object.freeze({
    en: "You are not logged in to the document exchange with the card, or the session ended (logout, 30 minutes idle or the card removed). Insert the agency card and choose Log in with the card.",
    zh: "尚未以憑證卡登入公文交換，或登入已結束（登出、閒置 30 分鐘或卡片取出）。請插入機關憑證卡後按「以憑證卡登入」。",
  }),
  ERR_EXCHANGE_FAILED: Object.freeze({
    en: "The document exchange could not do this; the reason follows. Act on it and try again; if it keeps happening, contact your IT staff.",
    zh: "公文交換沒有完成這項作業，原因如下。請依說明處理後再試一次；若一再發生，請洽資訊人員。",
  }),
});
