package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cardbridge/cardbridge/internal/install"
)

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// install registers CardBridge with the user's browsers: it copies the
// running binary to a stable per-user place (or, with --binary, uses the
// given one) and writes the native-messaging host manifests that point at it.
func (c *cli) install(args []string) error {
	var user, dryRun, dev bool
	var binary string
	var ids, browsers listFlag
	fs := c.flags("install", nil)
	fs.BoolVar(&user, "user", false, "install for the current user only / 僅為目前使用者安裝")
	fs.BoolVar(&dryRun, "dry-run", false, "show what would be written; write nothing / 只顯示將寫入的內容")
	fs.StringVar(&binary, "binary", "", "absolute path the manifests point at, instead of copying cardbridge / 指向此執行檔，不複製")
	fs.Var(&ids, "extension-id", "also allow this Chrome extension ID (repeatable) / 另外允許的擴充功能 ID")
	fs.Var(&browsers, "browser", "chromium, chrome, edge or firefox (repeatable; default all four) / 瀏覽器")
	fs.BoolVar(&dev, "dev", false, "also allow the development extension (development builds only) / 允許開發版擴充功能")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !user {
		return errSystemWide("install")
	}
	if dev && !c.opts.Development {
		return fmt.Errorf("install: --dev 只能用於開發版；正式版只允許商店版擴充功能 / --dev is for development builds; a release build allows only the store extensions: %w", errUsage)
	}
	allowed := append(slices.Clone(c.opts.StoreExtensionIDs), ids...)
	o := install.Options{Binary: binary, ExtensionIDs: allowed, Dev: dev, Browsers: browsers, DryRun: dryRun}
	if binary == "" {
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			return fmt.Errorf("install: finding the running cardbridge: %w", err)
		}
		o.Binary, o.Copy = exe, true
	}
	changes, err := install.Install(o)
	if err != nil {
		return installError(err)
	}
	if err := c.reportChanges("install", changes, dryRun, o.Binary); err != nil {
		return err
	}
	if extra := c.unlisted(ids); len(extra) > 0 && !c.json {
		// The browser lets these extensions start the host, but the host
		// itself only serves its own IDs and those in the configuration.
		fmt.Fprintf(c.stderr, "注意：請將 %s 加入設定檔的 allowedExtensions，CardBridge 才會回應這些擴充功能。\nNote: add %s to allowedExtensions in the configuration file, or CardBridge will refuse these extensions.\n",
			strings.Join(extra, ", "), strings.Join(extra, ", "))
	}
	return nil
}

// uninstall removes what install wrote for the current user.
func (c *cli) uninstall(args []string) error {
	var user, dryRun bool
	fs := c.flags("uninstall", nil)
	fs.BoolVar(&user, "user", false, "uninstall for the current user only / 僅移除目前使用者的安裝")
	fs.BoolVar(&dryRun, "dry-run", false, "show what would be removed; remove nothing / 只顯示將移除的檔案")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !user {
		return errSystemWide("uninstall")
	}
	changes, err := install.Uninstall(install.Options{DryRun: dryRun})
	if err != nil {
		return installError(err)
	}
	return c.reportChanges("uninstall", changes, dryRun, "")
}

func errSystemWide(cmd string) error {
	return fmt.Errorf("%s: 請加 --user（僅限目前使用者）；全電腦安裝請用 MSI 或 .deb 安裝程式（docs/install.md）/ "+
		"add --user (current user only); for every user of the computer use the MSI or the .deb (docs/install.md): %w", cmd, errUsage)
}

// installError turns the install package's option errors into usage
// errors (exit status 2) with a Chinese explanation; I/O errors pass.
func installError(err error) error {
	var zh string
	switch {
	case errors.Is(err, install.ErrUnsupportedOS):
		zh = "此作業系統不支援 --user 安裝；Windows 請使用 MSI 安裝程式（docs/install.md）"
	case errors.Is(err, install.ErrBinary):
		zh = "--binary 須為可執行檔的絕對路徑"
	case errors.Is(err, install.ErrExtensionID):
		zh = "--extension-id 須為 32 個 a 到 p 的小寫英文字母"
	case errors.Is(err, install.ErrNoExtensionID):
		zh = "這個版本沒有內建商店版擴充功能的 ID；開發時請加 --dev，或以 --extension-id 指定"
	case errors.Is(err, install.ErrBrowser):
		zh = "--browser 只能是 chromium、chrome、edge 或 firefox"
	default:
		return err
	}
	return fmt.Errorf("%s / %v: %w", zh, err, errUsage)
}

// changeJSON is one install.Change for --json.
type changeJSON struct {
	Path    string `json:"path"`
	Action  string `json:"action"`
	Browser string `json:"browser"`
	// Manifest is the manifest a dry run would write.
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// reportChanges reports what install or uninstall did, or would do in a dry run;
// from is the binary a copy comes from.
func (c *cli) reportChanges(cmd string, changes []install.Change, dryRun bool, from string) error {
	if c.json {
		out := make([]changeJSON, 0, len(changes))
		for _, ch := range changes {
			cj := changeJSON{Path: ch.Path, Action: ch.Action, Browser: ch.Browser}
			if dryRun && ch.Action == install.ActionWrite && ch.Content != nil {
				cj.Manifest = ch.Content
			}
			out = append(out, cj)
		}
		return c.emit(map[string]any{"dryRun": dryRun, "changes": out})
	}
	removes := 0
	for _, ch := range changes {
		where := ch.Path
		if ch.Browser != "" {
			where += "  (" + ch.Browser + ")"
		}
		switch {
		case ch.Action == install.ActionWrite && dryRun && ch.Content == nil:
			fmt.Fprintf(c.stdout, "將複製 / would copy: %s → %s\n", from, ch.Path)
		case ch.Action == install.ActionWrite && dryRun:
			fmt.Fprintf(c.stdout, "將寫入 / would write: %s\n%s\n", where, ch.Content)
		case ch.Action == install.ActionWrite:
			fmt.Fprintf(c.stdout, "已安裝 / installed: %s\n", where)
		case ch.Action == install.ActionUnchanged:
			fmt.Fprintf(c.stdout, "未變更 / unchanged: %s\n", where)
		case ch.Action == install.ActionRemove && dryRun:
			removes++
			fmt.Fprintf(c.stdout, "將移除 / would remove: %s\n", where)
		case ch.Action == install.ActionRemove:
			removes++
			fmt.Fprintf(c.stdout, "已移除 / removed: %s\n", where)
		case ch.Action == install.ActionKept:
			fmt.Fprintf(c.stdout, "保留（不是 CardBridge 的檔案）/ kept (not CardBridge's): %s\n", where)
		}
	}
	if cmd == "uninstall" && removes == 0 {
		fmt.Fprintln(c.stdout, "沒有要移除的檔案 / nothing to remove")
	}
	if dryRun {
		fmt.Fprintln(c.stderr, "試執行：沒有寫入或移除任何檔案 / dry run: nothing was written or removed")
	}
	return nil
}

// unlisted returns the IDs the configuration does not yet allow.
func (c *cli) unlisted(ids []string) []string {
	cfg, _ := c.opts.LoadConfig()
	var out []string
	for _, id := range ids {
		if id != install.DevExtensionID && !slices.Contains(c.opts.StoreExtensionIDs, id) && !slices.Contains(cfg.AllowedExtensions, id) {
			out = append(out, id)
		}
	}
	return out
}
