//go:build windows || darwin

package register

import (
	"fmt"
	"runtime"
)

// Register does not register modules on Windows and macOS yet; it returns
// ErrUnsupportedOS with what the vendors' tools do there instead.
//
// Windows: browsers there do not read NSS databases for client
// certificates. Chrome and Edge take them from the Windows certificate
// store (CryptoAPI/CNG). The HiCOS client installs a CSP and smart-card
// minidriver for the card, and its 「註冊憑證至電腦」 puts the card's
// certificates into the user's personal store (CurrentUser\My), linked to
// the key on the card through that CSP; Windows' Certificate Propagation
// service does the same by itself for a card with a minidriver. Firefox
// keeps its own NSS databases, but recent versions also read the Windows
// store (security.osclientcerts.autoload). Doing this ourselves means
// writing to the certificate store with a key-provider link, which
// CardBridge does not do yet.
//
// macOS: Safari and Chrome take client certificates from the keychain,
// where a card appears through a CryptoTokenKit token driver (Apple's
// own for PIV cards; for other cards the vendor's, or on old systems its
// tokend). A PKCS#11 module alone is not seen by them; Firefox, which
// still reads its NSS databases, could be served as on Linux, but
// CardBridge does not do that yet either.
func Register(o Options) ([]Change, error) { return nil, unsupported() }

// Undo has nothing to undo where Register does nothing; it returns
// ErrUnsupportedOS like Register.
func Undo(o Options) ([]Change, error) { return nil, unsupported() }

func unsupported() error {
	if runtime.GOOS == "windows" {
		return fmt.Errorf("%w：Windows 上 Chrome、Edge 由 Windows 憑證存放區取得用戶端憑證；請使用 HiCOS 卡片管理工具的「註冊憑證至電腦」（它安裝 CSP／minidriver，並把卡片憑證放入「個人」憑證存放區）"+
			" / on Windows, Chrome and Edge take client certificates from the Windows certificate store: use 「註冊憑證至電腦」 (register certificates to this computer) in the HiCOS client, which installs a CSP/minidriver and puts the card's certificates into the personal store", ErrUnsupportedOS)
	}
	return fmt.Errorf("%w：macOS 上 Safari、Chrome 由鑰匙圈（CryptoTokenKit）取得卡片憑證，需要廠商的 CryptoTokenKit 驅動程式（舊版系統為 tokend）；CardBridge 尚未處理"+
		" / on macOS, Safari and Chrome see a card through the keychain (CryptoTokenKit), which needs the vendor's CryptoTokenKit token driver (a tokend on old systems); CardBridge does not set this up yet", ErrUnsupportedOS)
}
