package register

import "errors"

// Prefix starts the name of every module Register adds. Undo deletes
// exactly the modules whose name starts with it, so a module the user, an
// IT department or a vendor's installer added under any other name is
// never touched.
const Prefix = "CardBridge: "

// What a Change does (or, in a dry run, would do).
const (
	// ActionCreateDB: the NSS database did not exist and was created with
	// an empty password, as Chrome itself would create it.
	ActionCreateDB = "create-db"
	// ActionAdd: the module was added.
	ActionAdd = "add"
	// ActionReplace: our module of that name pointed at another file; it
	// was deleted and added again with the new file.
	ActionReplace = "replace"
	// ActionUnchanged: our module is already there with this file.
	ActionUnchanged = "unchanged"
	// ActionPresent: the file is already registered under a name that is
	// not ours (by the user or the vendor). It is left alone and not added
	// twice: NSS cannot load one library under two names, and the card
	// would show twice in the certificate chooser if it could.
	ActionPresent = "present"
	// ActionRemove: Undo deleted our module.
	ActionRemove = "remove"
	// ActionSkip: the database was left alone; Reason says why.
	ActionSkip = "skip"
)

// Browser names in Change.Browser.
const (
	BrowserChrome  = "Chrome/Chromium"
	BrowserFirefox = "Firefox"
)

// Options say what to register or unregister. The zero value registers
// the discovered module for the current user.
type Options struct {
	// Modules are absolute paths of PKCS#11 modules to register. If empty,
	// Register uses the HiCOS module found at its vendor's location, else
	// OpenSC's. Undo ignores it: it removes every module it added.
	Modules []string
	// Home is the user's absolute home directory. If empty,
	// os.UserHomeDir.
	Home string
	// Getenv reads XDG_DATA_HOME (where Chromium 146 and later keep a new
	// shared database). If nil, os.Getenv.
	Getenv func(string) string
	// DryRun reports the changes without making them: only read-only
	// commands (modutil -rawlist) are run.
	DryRun bool
	// Runner runs modutil and certutil. If nil, they are run from PATH
	// with a time limit.
	Runner Runner
}

// Runner runs the NSS tool name ("modutil" or "certutil") with args and
// returns its standard output. A failure's error carries what the tool
// printed. It exists so that a caller can watch or log the commands; the
// tests run the real tools through it.
type Runner func(name string, args ...string) ([]byte, error)

// Change is one thing Register or Undo did, or would do, to one NSS
// database.
type Change struct {
	// DB is the database's absolute directory (the tools' "sql:" + DB).
	DB string
	// Browser is BrowserChrome (the shared database) or BrowserFirefox.
	Browser string
	// Profile is the Firefox profile's name in profiles.ini; "" for the
	// shared database.
	Profile string
	// Action is one of the Action constants.
	Action string
	// Module is the module's name in the database; "" for ActionCreateDB
	// and ActionSkip. For ActionPresent it is the other program's name.
	Module string
	// Library is the module's file; "" for ActionCreateDB and ActionSkip.
	Library string
	// Reason says, in Chinese and English, why a database was skipped.
	Reason string
	// Running reports that Firefox has this profile open (its lock is
	// held by a live process). The change is made anyway: NSS keeps the
	// module list in pkcs11.txt, which Firefox reads when it starts and
	// rewrites only entry by entry, so a change made while it runs
	// survives, but takes effect only after Firefox is restarted.
	Running bool
}

// ErrNoModule reports that no module was given and none is installed.
var ErrNoModule = errors.New("找不到 HiCOS 或 OpenSC 的 PKCS#11 模組：請由 https://moica.nat.gov.tw/download_1.html 安裝 HiCOS 卡片管理工具，或以 --pkcs11 指定模組的絕對路徑" +
	" / no HiCOS or OpenSC PKCS#11 module found: install the HiCOS client from https://moica.nat.gov.tw/download_1.html, or pass --pkcs11 with the module's absolute path")

// ErrUnsafeModule wraps p11's refusal of a module path, in both languages.
var ErrUnsafeModule = errors.New("PKCS#11 模組無法使用：須為存在的絕對路徑，且檔案與所在資料夾不可由其他使用者寫入" +
	" / unusable PKCS#11 module: it must be an absolute path to an existing file that, like its folder, only its owner may write")

// ErrNoTools reports that modutil or certutil is not installed.
var ErrNoTools = errors.New("找不到 NSS 工具 modutil、certutil：請安裝 libnss3-tools（Debian、Ubuntu）或 nss-tools（Fedora）" +
	" / the NSS tools modutil and certutil are missing: install libnss3-tools (Debian, Ubuntu) or nss-tools (Fedora)")

// ErrProfilePath refuses a Firefox profile that profiles.ini places
// outside its own folder through a relative path: writing there would let
// whoever wrote profiles.ini choose which database we change.
var ErrProfilePath = errors.New("Firefox 設定檔路徑不安全，已拒絕 / unsafe Firefox profile path refused")

// ErrTool reports that modutil or certutil failed.
var ErrTool = errors.New("NSS 工具執行失敗 / an NSS tool failed")

// ErrUnsupportedOS reports Windows, macOS and other systems where
// CardBridge does not register modules yet (see unsupported.go).
var ErrUnsupportedOS = errors.New("此作業系統尚不支援 register / register is not supported on this system yet")
