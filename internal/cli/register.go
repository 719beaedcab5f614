package cli

import (
	"errors"
	"fmt"

	"github.com/cardbridge/cardbridge/internal/register"
)

// register adds the card's PKCS#11 module to the user's NSS databases, so
// that Chrome, Chromium and Firefox offer the card's certificates to sites
// that log in with a client certificate; with --undo it removes exactly
// what it added. This is not the native-messaging registration (install):
// TLS client authentication happens in the browser, not in CardBridge.
func (c *cli) register(args []string) error {
	var undo, dryRun bool
	var modules listFlag
	fs := c.flags("register", nil)
	fs.Var(&modules, "pkcs11", "register this PKCS#11 module (absolute path; repeatable; default: HiCOS, else OpenSC) / 註冊此 PKCS#11 模組")
	fs.BoolVar(&undo, "undo", false, "remove the modules register added / 移除 register 加入的模組")
	fs.BoolVar(&dryRun, "dry-run", false, "show what would change; change nothing / 只顯示將變更的內容")
	if err := parse(fs, args); err != nil {
		return err
	}
	if undo && len(modules) > 0 {
		return fmt.Errorf("register: --undo 移除所有 CardBridge 加入的模組，不需 --pkcs11 / --undo removes every module CardBridge added and takes no --pkcs11: %w", errUsage)
	}
	o := register.Options{Modules: modules, DryRun: dryRun}
	var changes []register.Change
	var err error
	if undo {
		changes, err = register.Undo(o)
	} else {
		changes, err = register.Register(o)
	}
	if c.json {
		if jerr := c.emitRegister(changes, undo, dryRun, err); jerr != nil {
			return jerr
		}
	} else {
		c.printRegister(changes, undo, dryRun, err == nil)
	}
	if err != nil {
		// The register package's messages are already in both languages,
		// and they say what to do (install HiCOS, pass --pkcs11, install
		// libnss3-tools); report's generic codes would hide that.
		fmt.Fprintf(c.stderr, "錯誤 / Error: %v\n", err)
		return exitCode(1)
	}
	return nil
}

// registerChangeJSON is one register.Change for --json.
type registerChangeJSON struct {
	DB             string `json:"db"`
	Browser        string `json:"browser"`
	Profile        string `json:"profile,omitempty"`
	Action         string `json:"action"`
	Module         string `json:"module,omitempty"`
	Library        string `json:"library,omitempty"`
	Reason         string `json:"reason,omitempty"`
	FirefoxRunning bool   `json:"firefoxRunning,omitempty"`
}

func (c *cli) emitRegister(changes []register.Change, undo, dryRun bool, err error) error {
	out := make([]registerChangeJSON, 0, len(changes))
	for _, ch := range changes {
		out = append(out, registerChangeJSON{DB: ch.DB, Browser: ch.Browser, Profile: ch.Profile, Action: ch.Action,
			Module: ch.Module, Library: ch.Library, Reason: ch.Reason, FirefoxRunning: ch.Running})
	}
	doc := map[string]any{"undo": undo, "dryRun": dryRun, "changes": out}
	if err != nil {
		// Not the protocol's {"code":"ERR_…"}: these failures are the
		// command's own, and no page or extension ever sees them.
		doc["error"] = map[string]string{"reason": registerReason(err), "message": err.Error()}
	}
	return c.emit(doc)
}

// registerReason names the kind of a register failure for scripts.
func registerReason(err error) string {
	switch {
	case errors.Is(err, register.ErrNoModule):
		return "no-module"
	case errors.Is(err, register.ErrUnsafeModule):
		return "unsafe-module"
	case errors.Is(err, register.ErrNoTools):
		return "no-nss-tools"
	case errors.Is(err, register.ErrProfilePath):
		return "unsafe-profile"
	case errors.Is(err, register.ErrUnsupportedOS):
		return "unsupported-os"
	case errors.Is(err, register.ErrTool):
		return "tool-failed"
	}
	return "other"
}

// printRegister lists the changes under one heading per database; notes
// for people go to standard error.
func (c *cli) printRegister(changes []register.Change, undo, dryRun, ok bool) {
	done := func(zh, en, zhDry, enDry string) string {
		if dryRun {
			return zhDry + " / " + enDry
		}
		return zh + " / " + en
	}
	var last string
	changed, removed, running := false, 0, false
	for _, ch := range changes {
		if ch.DB != last {
			last = ch.DB
			if ch.Browser == register.BrowserFirefox {
				fmt.Fprintf(c.stdout, "Firefox 設定檔 / profile %q: %s\n", ch.Profile, ch.DB)
			} else {
				fmt.Fprintf(c.stdout, "Chrome/Chromium 共用資料庫 / shared database: %s\n", ch.DB)
			}
		}
		switch ch.Action {
		case register.ActionCreateDB:
			fmt.Fprintf(c.stdout, "  %s\n", done("已建立資料庫", "created the database", "將建立資料庫", "would create the database"))
		case register.ActionAdd:
			fmt.Fprintf(c.stdout, "  %s: %s  (%s)\n", done("已加入", "added", "將加入", "would add"), ch.Module, ch.Library)
		case register.ActionReplace:
			fmt.Fprintf(c.stdout, "  %s: %s  (%s)\n", done("已更新", "replaced", "將更新", "would replace"), ch.Module, ch.Library)
		case register.ActionUnchanged:
			fmt.Fprintf(c.stdout, "  未變更 / unchanged: %s  (%s)\n", ch.Module, ch.Library)
		case register.ActionPresent:
			fmt.Fprintf(c.stdout, "  已由其他程式註冊為 %q，不重複加入 / already registered as %q by another program, not added twice  (%s)\n", ch.Module, ch.Module, ch.Library)
		case register.ActionRemove:
			removed++
			fmt.Fprintf(c.stdout, "  %s: %s  (%s)\n", done("已移除", "removed", "將移除", "would remove"), ch.Module, ch.Library)
		case register.ActionSkip:
			fmt.Fprintf(c.stdout, "  略過 / skipped: %s\n", ch.Reason)
		}
		switch ch.Action {
		case register.ActionCreateDB, register.ActionAdd, register.ActionReplace, register.ActionRemove:
			changed = true
			running = running || ch.Running
		}
	}
	if undo && removed == 0 && ok {
		fmt.Fprintln(c.stdout, "沒有要移除的模組 / nothing to remove")
	}
	switch {
	case dryRun:
		fmt.Fprintln(c.stderr, "試執行：沒有變更任何資料庫 / dry run: no database was changed")
	case changed && running:
		fmt.Fprintln(c.stderr, "Firefox 正在執行：請關閉並重新開啟 Firefox（及 Chrome、Chromium），變更才會生效 / Firefox is running: quit and restart it (and Chrome, Chromium) for the change to take effect")
	case changed:
		fmt.Fprintln(c.stderr, "請重新啟動 Chrome、Chromium 與 Firefox，變更才會生效 / restart Chrome, Chromium and Firefox for the change to take effect")
	}
}
