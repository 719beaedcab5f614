package hipki

import "fmt"

// ret_code values pages compare against, as CHT's errorcode.js names them
// (the copies government systems publish with their pages). 0 is success.
const (
	CodeOK            uint32 = 0
	CodeNoTBS         uint32 = 0x76000003 // 未輸入待簽訊息
	CodeNoCipher      uint32 = 0x76000004 // 未輸入密文
	CodeNoCard        uint32 = 0x76000006 // 未插入IC卡
	CodeFileTooLarge  uint32 = 0x7600000A // 檔案過大
	CodeJSON          uint32 = 0x7600000B // JSON格式錯誤
	CodeBadParameter  uint32 = 0x7600000C // 參數錯誤
	CodeTimeout       uint32 = 0x7600000D // 執行檔錯誤或逾時
	CodeUnsupported   uint32 = 0x7600000E // 不支援的方法
	CodeForbidden     uint32 = 0x7600000F // 禁止存取的網域
	CodeUntrustedSite uint32 = 0x76000031 // 非信任網站
	CodeNoPIN         uint32 = 0x76000998 // 未輸入PIN碼
	CodeCancelled     uint32 = 0x76000999 // 使用者已取消動作
	CodeNoReader      uint32 = 0x76100003 // 無可用讀卡機
	CodeLoginFailed   uint32 = 0x76100006 // IC卡登入失敗 (last_error says why)
	CodeNoCert        uint32 = 0x7610000C // 找不到指定憑證
	CodeNoKey         uint32 = 0x7610000D // 找不到指定金鑰
	CodeSignatureType uint32 = 0x76300002 // 簽章型別錯誤
	CodeSignFailed    uint32 = 0x76300004 // 簽章執行錯誤
	CodeDecryptDER    uint32 = 0x76400001 // 解密DER錯誤
	CodeDecryptType   uint32 = 0x76400002 // 解密型態錯誤
	CodeDecryptFailed uint32 = 0x76400003 // 解密錯誤
	CodeNotYetValid   uint32 = 0x76500001 // 憑證尚未生效
	CodeExpired       uint32 = 0x76500002 // 憑證已逾期
	CodeBase64Decode  uint32 = 0x76600002 // Base64解碼錯誤
)

// last_error values (PKCS#11 CKR codes, and CHT's tries-left codes) that
// go with CodeLoginFailed.
const (
	LastPINIncorrect uint32 = 0xA0       // PIN碼錯誤
	LastPINLocked    uint32 = 0xA4       // 已鎖卡
	LastOneTryLeft   uint32 = 0x80000001 // PIN碼錯誤，剩餘一次機會
	LastTwoTriesLeft uint32 = 0x80000002 // PIN碼錯誤，剩餘兩次機會
)

// Error is a request CardBridge refuses, with the ret_code for the page.
type Error struct {
	Code uint32
	// CardManagement: the page asked for 開卡, 鎖卡解碼 or 重設PIN碼,
	// which need the CA's own tool; ChangePIN: for CardBridge's own
	// 「變更 PIN 碼」. The message says where to go.
	CardManagement, ChangePIN bool
	Err                       error
}

func (e *Error) Error() string { return fmt.Sprintf("hipki ret_code 0x%08X: %v", e.Code, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

func refuse(code uint32, format string, a ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, a...)}
}
