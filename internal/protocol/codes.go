// Package protocol owns the wire of CardBridge's native messaging and
// nothing else: frames, the request/reply/event envelope, strict argument
// decoding, command argument and result types, and the stable error codes,
// each with a Traditional Chinese and English message that says what went
// wrong and what to do. Codes are only ever added, never renamed.
//
// It imports no domain package: internal/errcode turns the errors of the
// card layer (and later the exchange) into *Error values with their codes,
// and CodeFor here knows only the protocol's own errors.
package protocol

import (
	"context"
	"errors"
)

// Code is a stable error code string.
type Code string

// The error codes. Keep in sync with docs/protocol.md.
const (
	ErrNoService          Code = "ERR_NO_SERVICE"
	ErrNoReader           Code = "ERR_NO_READER"
	ErrNoCard             Code = "ERR_NO_CARD"
	ErrCardRemoved        Code = "ERR_CARD_REMOVED"
	ErrCardReset          Code = "ERR_CARD_RESET"
	ErrReaderUnavailable  Code = "ERR_READER_UNAVAILABLE"
	ErrCardInUse          Code = "ERR_CARD_IN_USE"
	ErrCardUnresponsive   Code = "ERR_CARD_UNRESPONSIVE"
	ErrUnsupportedCard    Code = "ERR_UNSUPPORTED_CARD"
	ErrPINIncorrect       Code = "ERR_PIN_INCORRECT"
	ErrPINBlocked         Code = "ERR_PIN_BLOCKED"
	ErrPUKIncorrect       Code = "ERR_PUK_INCORRECT"
	ErrPUKBlocked         Code = "ERR_PUK_BLOCKED"
	ErrPINFormat          Code = "ERR_PIN_FORMAT"
	ErrUnknownCertificate Code = "ERR_UNKNOWN_CERTIFICATE"
	ErrUnsupportedAlg     Code = "ERR_UNSUPPORTED_ALGORITHM"
	ErrDecryptFailed      Code = "ERR_DECRYPT_FAILED"
	ErrTimeout            Code = "ERR_TIMEOUT"
	ErrCancelled          Code = "ERR_CANCELLED"
	ErrInternal           Code = "ERR_INTERNAL"

	// Protocol codes: the request, not the card, was at fault.
	ErrMessageTooLarge  Code = "ERR_MESSAGE_TOO_LARGE"
	ErrBadMessage       Code = "ERR_BAD_MESSAGE"
	ErrUnknownCommand   Code = "ERR_UNKNOWN_COMMAND"
	ErrBadArgument      Code = "ERR_BAD_ARGUMENT"
	ErrMissingArgument  Code = "ERR_MISSING_ARGUMENT"
	ErrBadOrigin        Code = "ERR_BAD_ORIGIN"
	ErrCallerNotAllowed Code = "ERR_CALLER_NOT_ALLOWED"
	ErrBusy             Code = "ERR_BUSY"
	ErrResponseTooLarge Code = "ERR_RESPONSE_TOO_LARGE"
	ErrCertificateUsage Code = "ERR_CERTIFICATE_USAGE"
	ErrNotAllowed       Code = "ERR_NOT_ALLOWED"
	ErrUnblockElsewhere Code = "ERR_UNBLOCK_ELSEWHERE"
	// ErrHiCOSClientNeeded: a Chunghwa Telecom HiCOS card (MOICA, MOEACA,
	// XCA, GCA) was read without its vendor's PKCS#11 module; its
	// certificates show, but signing, decrypting and PIN changes need the
	// HiCOS client.
	ErrHiCOSClientNeeded Code = "ERR_HICOS_CLIENT_NEEDED"
	// ErrCertificateAmbiguous: cards in two readers show the same
	// certificate; one of them is not the holder's card, and no PIN is sent
	// until it is taken out.
	ErrCertificateAmbiguous Code = "ERR_CERTIFICATE_AMBIGUOUS"
	// ErrExchangeUnavailable: the document exchange program
	// (cardbridge-exchange) is not installed beside the host, or stopped.
	ErrExchangeUnavailable Code = "ERR_EXCHANGE_UNAVAILABLE"
	// ErrExchangeLoginNeeded: the exchange request needs the card session,
	// which has not been opened or has ended.
	ErrExchangeLoginNeeded Code = "ERR_EXCHANGE_LOGIN_NEEDED"
	// ErrExchangeFailed: the exchange could not do what was asked; details
	// carry the agent's own reason in both languages ("reason").
	ErrExchangeFailed Code = "ERR_EXCHANGE_FAILED"
)

// Codes lists every code in documentation order. Append only.
var Codes = []Code{ErrNoService, ErrNoReader, ErrNoCard, ErrCardRemoved, ErrCardReset, ErrReaderUnavailable,
	ErrCardInUse, ErrCardUnresponsive, ErrUnsupportedCard, ErrPINIncorrect, ErrPINBlocked, ErrPUKIncorrect,
	ErrPUKBlocked, ErrPINFormat, ErrUnknownCertificate, ErrUnsupportedAlg, ErrDecryptFailed, ErrTimeout,
	ErrCancelled, ErrInternal, ErrMessageTooLarge, ErrBadMessage, ErrUnknownCommand, ErrBadArgument,
	ErrMissingArgument, ErrBadOrigin, ErrCallerNotAllowed, ErrBusy, ErrResponseTooLarge, ErrCertificateUsage,
	ErrNotAllowed, ErrUnblockElsewhere, ErrHiCOSClientNeeded, ErrCertificateAmbiguous,
	ErrExchangeUnavailable, ErrExchangeLoginNeeded, ErrExchangeFailed}

// Message is a user-facing message in both languages.
type Message struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Messages holds the message of every code: what went wrong, then what to do.
var Messages = map[Code]Message{
	ErrNoService: {"智慧卡服務沒有執行。請重新開機；若仍失敗，請在 Windows「服務」中啟動「Smart Card」（Linux：sudo systemctl start pcscd）。",
		"The smart card service is not running. Restart the computer; if that does not help, start the \"Smart Card\" service in Windows Services (Linux: sudo systemctl start pcscd)."},
	ErrNoReader: {"找不到讀卡機。請將讀卡機插上電腦的 USB 孔，等候 10 秒後再試一次。",
		"No card reader was found. Plug the reader into a USB port, wait 10 seconds and try again."},
	ErrNoCard: {"讀卡機中沒有 IC 卡。請將憑證 IC 卡晶片朝上插入讀卡機後再試一次。",
		"There is no card in the reader. Insert the certificate card, chip side up, and try again."},
	ErrCardRemoved: {"作業途中卡片被取出，這次作業沒有完成。請插回卡片後重新操作，完成前不要取出。",
		"The card was removed during the operation, which did not complete. Insert the card again and repeat; leave it in until it finishes."},
	ErrCardReset: {"卡片被其他程式重置，這次作業沒有完成。請再試一次。",
		"Another program reset the card, so the operation did not complete. Please try again."},
	ErrReaderUnavailable: {"讀卡機沒有回應或已被拔除。請拔下讀卡機再插回後再試一次。",
		"The reader stopped responding or was unplugged. Unplug it, plug it back in and try again."},
	ErrCardInUse: {"卡片正被其他程式使用。請關閉其他讀卡程式後再試一次。",
		"Another program is using the card. Close other card programs and try again."},
	ErrCardUnresponsive: {"卡片沒有回應。請取出卡片，確認晶片朝上後重新插入。",
		"The card does not respond. Take it out, check that the chip faces up and insert it again."},
	ErrUnsupportedCard: {"這張卡不是可使用的憑證 IC 卡。請確認插入的是憑證卡（不是健保卡或金融卡）。",
		"This is not a certificate card CardBridge can use. Check that you inserted the certificate card (not a health insurance or bank card)."},
	ErrPINIncorrect: {"PIN 碼錯誤。請確認後再輸入；連續輸錯 3 次卡片會鎖住。",
		"Wrong PIN. Check it before trying again; 3 wrong PINs in a row block the card."},
	ErrPINBlocked: {"PIN 碼已鎖住（或新卡尚未開卡）。請用 PUK 解鎖並設定新 PIN 碼；沒有 PUK 請洽發卡單位。",
		"The PIN is blocked (or this new card is not activated yet). Unblock it with the PUK and set a new PIN; without a PUK, contact the card issuer."},
	ErrPUKIncorrect: {"PUK 錯誤。PUK 在發卡單位寄來的密碼函上；連續輸錯 3 次 PUK 也會鎖住。",
		"Wrong PUK. The PUK is on the PIN letter from the card issuer; 3 wrong PUKs in a row block it too."},
	ErrPUKBlocked: {"PUK 已鎖住，無法自行解鎖。請洽發卡單位辦理。",
		"The PUK is blocked and cannot be unblocked here. Contact the card issuer."},
	ErrPINFormat: {"PIN 碼須為 6 到 8 個英文字母或數字（PUK 為 8 個）。這次沒有送到卡片，不會扣嘗試次數。",
		"The PIN must be 6 to 8 letters or digits (the PUK 8). Nothing was sent to the card, so no try was used."},
	ErrUnknownCertificate: {"卡片上找不到指定的憑證，可能已換了一張卡。請重新整理頁面後再試。",
		"The requested certificate is not on the card; the card may have been changed. Reload the page and try again."},
	ErrUnsupportedAlg: {"這張卡的金鑰不支援所要求的演算法。請洽網站管理者。",
		"The card's key does not support the requested algorithm. Contact the site's administrator."},
	ErrDecryptFailed: {"無法解密：資料不是用這張卡的加密憑證加密的。請確認寄件者使用的是您目前的憑證。",
		"Could not decrypt: the data was not encrypted for this card's encryption certificate. Check that the sender used your current certificate."},
	ErrTimeout:   {"等候逾時。請再試一次。", "The wait timed out. Please try again."},
	ErrCancelled: {"作業已取消。", "The operation was cancelled."},
	ErrMessageTooLarge: {"網頁送出的資料太大（上限 8 MB），沒有處理。請改送較小的檔案，或請網站改為先計算雜湊值再簽章。",
		"The page sent too much data (the limit is 8 MB), so nothing was done. Send a smaller file, or ask the site to sign a digest instead."},
	ErrBadMessage: {"收到格式不正確的要求，沒有處理。請重新整理頁面；若仍發生，請通知網站管理者。",
		"A malformed request was received and ignored. Reload the page; if it happens again, tell the site's administrator."},
	ErrUnknownCommand: {"CardBridge 不認得這個要求，可能是版本太舊。請更新 CardBridge 後再試。",
		"CardBridge does not know this request; it may be out of date. Update CardBridge and try again."},
	ErrBadArgument: {"網頁送出的要求內容不正確，沒有處理。請重新整理頁面；若仍發生，請通知網站管理者。",
		"The page's request has an invalid value and was not carried out. Reload the page; if it happens again, tell the site's administrator."},
	ErrMissingArgument: {"網頁送出的要求缺少必要資料，沒有處理。請通知網站管理者。",
		"The page's request lacks a required value and was not carried out. Tell the site's administrator."},
	ErrBadOrigin: {"這個網頁的位址不是安全連線（https）或格式不正確，不能使用憑證卡。請確認網址以 https:// 開頭。",
		"This page's address is not a secure (https) origin, or is malformed, so it may not use the card. Check that the address starts with https://."},
	ErrCallerNotAllowed: {"啟動 CardBridge 的瀏覽器擴充功能不是 CardBridge 本身，已拒絕。請從瀏覽器的擴充功能商店重新安裝 CardBridge。",
		"CardBridge was started by an extension that is not CardBridge, and refused it. Reinstall CardBridge from your browser's extension store."},
	ErrBusy: {"同時進行的要求太多。請等目前的作業完成後再試。",
		"Too many requests at once. Wait for the current ones to finish and try again."},
	ErrResponseTooLarge: {"結果太大，無法傳回瀏覽器。請通知網站管理者。",
		"The result is too large to return to the browser. Tell the site's administrator."},
	ErrCertificateUsage: {"這張憑證不能用於這項作業（簽章憑證只能簽章與登入，加密憑證只能解密）。請重新整理頁面後再試。",
		"This certificate cannot be used for this operation (the signing certificate signs and logs in, the encryption certificate decrypts). Reload the page and try again."},
	ErrNotAllowed: {"這個網站不能要求這項作業：原始簽章與解密只開放給資訊人員指定的網站，沒有使用您的憑證卡。若這是貴單位的業務網站，請洽資訊人員。",
		"This site may not ask for this operation: raw signatures and decryption are open only to sites your IT staff have listed, so your card was not used. If this is your organisation's own site, contact your IT staff."},
	ErrUnblockElsewhere: {"這張卡的 PIN 碼不能在這台電腦上用 PUK 解鎖，必須透過發卡單位的線上服務辦理（自然人憑證：https://moica.nat.gov.tw/；組織及團體憑證：https://xca.nat.gov.tw/；工商憑證：https://moeaca.nat.gov.tw/），或洽發卡單位。卡片沒有被變更。",
		"This card's PIN cannot be unblocked with the PUK on this computer; it must be done through the card issuer's online service (MOICA: https://moica.nat.gov.tw/; XCA: https://xca.nat.gov.tw/; MOEACA: https://moeaca.nat.gov.tw/) or at the issuer's office. The card was not changed."},
	ErrHiCOSClientNeeded: {"這張是中華電信 HiCOS 卡（自然人憑證、工商憑證、組織及團體憑證或政府憑證）。CardBridge 讀得到卡上的憑證，但簽章、解密和變更 PIN 碼需要「HiCOS PKI Smart Card 用戶端程式」。請從 https://moica.nat.gov.tw/download_1.html 下載安裝，重新插入卡片後再試一次。",
		"This is a Chunghwa Telecom HiCOS card (MOICA, MOEACA, XCA or GCA). CardBridge can read its certificates, but signing, decrypting and changing the PIN need the HiCOS PKI Smart Card client. Install it from https://moica.nat.gov.tw/download_1.html, reinsert the card and try again."},
	ErrCertificateAmbiguous: {"兩台讀卡機裡的卡片有同一張憑證，其中一張不是您的憑證卡。為了不把 PIN 碼送到別人的卡片，這項作業沒有進行。請取出您不用或來路不明的卡片，只留自己的憑證卡，再試一次。",
		"Cards in two readers show the same certificate, so one of them is not your card. To keep your PIN from reaching someone else's card, nothing was done. Take out the card you do not use or do not know, keep only your own certificate card in, and try again."},
	ErrExchangeUnavailable: {"公文交換程式（cardbridge-exchange）沒有安裝或已停止。請重新開啟「公文交換」頁面；若仍失敗，請重新安裝 CardBridge。",
		"The document exchange program (cardbridge-exchange) is not installed or has stopped. Open the document exchange page again; if that does not help, reinstall CardBridge."},
	ErrExchangeLoginNeeded: {"尚未以憑證卡登入公文交換，或登入已結束（登出、閒置 30 分鐘或卡片取出）。請插入機關憑證卡後按「以憑證卡登入」。",
		"You are not logged in to the document exchange with the card, or the session ended (logout, 30 minutes idle or the card removed). Insert the agency card and choose Log in with the card."},
	ErrExchangeFailed: {"公文交換沒有完成這項作業，原因如下。請依說明處理後再試一次；若一再發生，請洽資訊人員。",
		"The document exchange could not do this; the reason follows. Act on it and try again; if it keeps happening, contact your IT staff."},
	ErrInternal: {"發生未預期的錯誤。請再試一次；若一再發生，請將記錄檔提供給資訊人員。",
		"An unexpected error occurred. Try again; if it keeps happening, give the log file to your IT staff."},
}

// CodeFor returns the code of err: the code of an *Error (internal/errcode
// maps domain errors to one), the code of a frame error, a timeout or a
// cancellation, else ErrInternal.
func CodeFor(err error) Code {
	var pe *Error
	var fe *FrameError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return pe.Code
	case errors.As(err, &fe):
		if errors.Is(err, ErrOversizeResponse) {
			return ErrResponseTooLarge
		}
		if errors.Is(err, ErrFrameEmpty) {
			return ErrBadMessage
		}
		return ErrMessageTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, context.Canceled):
		return ErrCancelled
	}
	return ErrInternal
}

// Details returns the facts of err a caller can act on, such as the tries
// left after a wrong PIN; nil when there are none.
func Details(err error) map[string]any {
	var pe *Error
	var fe *FrameError
	switch {
	case errors.As(err, &pe):
		return pe.Details
	case errors.As(err, &fe) && errors.Is(fe.Err, ErrOversizeResponse):
		return map[string]any{"size": fe.Size, "limit": MaxResponseSize}
	case errors.As(err, &fe):
		return map[string]any{"size": fe.Size, "limit": MaxRequestSize}
	}
	return nil
}
