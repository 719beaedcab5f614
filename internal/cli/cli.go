// Package cli is cardbridge's command line, for clerks, IT staff and
// scripts: list readers, show certificates, run the environment check,
// change or unblock the PIN, sign, register the host with the browsers,
// and speak the native protocol as JSON lines (native --plain).
//
// Standard output carries results only (text, or JSON with --json); every
// message for people goes to standard error in Traditional Chinese and
// English. PINs are read from the terminal without echo, or one per line
// from standard input with --pin-stdin, and are never printed or logged.
// Cards are reached through internal/cards, errors shown through
// internal/errcode; the native session itself is the caller's (Options).
package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Options are what the binary that runs the command line provides.
type Options struct {
	// Version is printed by the version command.
	Version string
	// Development marks a development build (install --dev is allowed).
	Development bool
	// StoreExtensionIDs are the store IDs compiled in; install allows them.
	StoreExtensionIDs []string
	// LoadConfig reads the configuration with the build's rules; nil reads
	// the default files.
	LoadConfig func() (config.Config, error)
	// ServeNative runs the native-messaging session on the terminal in
	// plain mode (one JSON message per line) and returns the exit status.
	ServeNative func(stdin io.Reader, stdout, stderr io.Writer) int
	// Exchange runs `exchange …` in this process (cardbridge-exchange); nil
	// starts cardbridge-exchange instead (cardbridge itself).
	Exchange func(env Env, args []string) error
}

const usage = `cardbridge — 憑證 IC 卡工具 / certificate card tool

用法 / usage:
  cardbridge readers   [--json]                      列出讀卡機 / list readers
  cardbridge certs     [--json] [--reader R] [--pkcs11 MODULE]...
                                                     列出憑證 / list certificates
  cardbridge check     [--json] [--reader R]         環境檢測 / environment check
  cardbridge pin status|change|unblock [--json] [--reader R] [--pin-stdin]
                                                     PIN 碼狀態、變更、解鎖 / PIN status, change, unblock
  cardbridge sign      --in FILE | --digest HEX  [--cert ID] [--hash sha256] [--pss]
                       [--pin-stdin] [--json] [--reader R]
                                                     簽章 / sign
  cardbridge install   --user [--dry-run] [--binary PATH] [--extension-id ID]... [--dev]
                       [--browser chromium|chrome|edge|firefox]... [--json]
                                                     向瀏覽器註冊（僅目前使用者）/ register with the browsers (this user)
  cardbridge uninstall --user [--dry-run] [--json]   移除瀏覽器註冊 / remove the browser registration
  cardbridge register  [--pkcs11 MODULE]... [--undo] [--dry-run] [--json]
                                                     註冊憑證至電腦：讓瀏覽器以卡片登入網站（Linux）/ let the browsers use the card for client-certificate logins (Linux)
  cardbridge policy apply [--approved "ORIGIN …"] [--firefox-url URL] | remove
                                                     全電腦原則（由 MSI 與 .deb 以系統管理員執行）/ the machine policy (run by the MSI and .deb as an administrator)
  cardbridge exchange setup --centre URL --agency CODE [--archive DIR] [--roots FILE] [--home DIR]
  cardbridge exchange send  --to CODE[,CODE…] (--di FILE | --subject TEXT --body FILE) [--attach FILE]… --pin-stdin
  cardbridge exchange sync  [--watch] [--reader NAME] --pin-stdin   送出、收文、回執 / send, receive, acknowledge
  cardbridge exchange list  [--in|--out] [--from DATE] [--to DATE] [--json]   收發文狀態表 (default today)
  cardbridge exchange show ID | export ID --pdf FILE | print ID… [--attachments]   內容、可攜式公文、補列印
  cardbridge exchange settings [--print on|off] …              收文及整合設定 / settings
  cardbridge exchange return ID --reason TEXT --pin-stdin    退文 / return
  cardbridge exchange announcements --pin-stdin
  cardbridge exchange serve                                  JSON 要求，每行一個 / JSON requests, one a line
  cardbridge native    --plain                         通訊協定測試：每行一個 JSON 要求 / the protocol, one JSON request per line
  cardbridge version

瀏覽器啟動時（參數為 chrome-extension://ID/ 或 Firefox 的 manifest 路徑與附加元件 ID），
cardbridge 以 native messaging 模式執行；見 docs/protocol.md。
When a browser starts it (chrome-extension://ID/, or Firefox's manifest path and add-on ID),
cardbridge speaks native messaging; see docs/protocol.md.
`

// Run runs the command line with args (without the program name) and
// returns the exit status: 0 done, 1 failed, 2 usage.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, o Options) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if o.LoadConfig == nil {
		o.LoadConfig = func() (config.Config, error) { return config.Load(config.DefaultPaths()) }
	}
	env := &cli{stdin: stdin, stdout: stdout, stderr: stderr, opts: o}
	var err error
	switch args[0] {
	case "readers":
		err = env.readers(args[1:])
	case "certs":
		err = env.certs(args[1:])
	case "check":
		err = env.check(args[1:])
	case "pin":
		err = env.pin(args[1:])
	case "sign":
		err = env.sign(args[1:])
	case "native":
		return env.native(args[1:])
	case "exchange":
		err = env.exchange(args[1:])
	case "install":
		err = env.install(args[1:])
	case "uninstall":
		err = env.uninstall(args[1:])
	case "register":
		err = env.register(args[1:])
	case "policy":
		err = env.policy(args[1:])
	case "version", "--version":
		fmt.Fprintln(stdout, o.Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	case "softcard":
		fmt.Fprintf(stderr, "虛擬測試卡已移至開發工具 cardbridge-softcard（不隨安裝程式提供）/ the virtual TEST card moved to the development tool cardbridge-softcard (not installed with CardBridge): go build ./cmd/cardbridge-softcard\n")
		return 2
	default:
		fmt.Fprintf(stderr, "未知的指令 / unknown command: %q\n\n%s", args[0], usage)
		return 2
	}
	return env.report(err)
}

type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	opts           Options
	json           bool
	cards          *cards.Manager // made on first use
	pkcs11         []string       // --pkcs11 modules of this command
	lines          *bufio.Reader  // --pin-stdin lines; one reader per run, so a second PIN line is not lost in a dropped buffer
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// exitCode carries a status without a message (check's overall result).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// report prints err for people (or as JSON) and returns the exit status.
func (c *cli) report(err error) int {
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(c.stderr, "%v\n\n%s", err, usage)
		return 2
	}
	err = errcode.Map(err)
	code := protocol.CodeFor(err)
	msg := protocol.Messages[code]
	detail := protocol.Details(err)
	if c.json {
		out := map[string]any{"error": map[string]any{"code": code, "message": msg, "details": detail}}
		_ = json.NewEncoder(c.stdout).Encode(out)
	}
	fmt.Fprintf(c.stderr, "錯誤：%s\nError: %s\n", withDetail(msg.ZH, detail, true), withDetail(msg.EN, detail, false))
	if reason, ok := detail["reason"].(string); ok && reason != "" {
		fmt.Fprintf(c.stderr, "原因 / reason: %s\n", reason)
	}
	if code == protocol.ErrInternal || os.Getenv("CARDBRIDGE_DEBUG") != "" {
		fmt.Fprintf(c.stderr, "(%s: %v)\n", code, err)
	} else {
		fmt.Fprintf(c.stderr, "(%s)\n", code)
	}
	return 1
}

func withDetail(msg string, d map[string]any, zh bool) string {
	n, ok := d["triesLeft"].(int)
	if !ok {
		return msg
	}
	if zh {
		return fmt.Sprintf("%s（剩 %d 次）", msg, n)
	}
	return fmt.Sprintf("%s (%d tries left)", msg, n)
}

// emit writes v as indented JSON.
func (c *cli) emit(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// native runs the host's protocol on the terminal, one JSON message per
// line, for IT staff and scripts; the browser uses frames instead.
func (c *cli) native(args []string) int {
	fs := c.flags("native", nil)
	plain := fs.Bool("plain", false, "one JSON message per line (required)")
	if err := parse(fs, args); err != nil || !*plain {
		fmt.Fprintf(c.stderr, "native: --plain is required (the browser starts cardbridge with its own arguments)\n\n%s", usage)
		return 2
	}
	return c.opts.ServeNative(c.stdin, c.stdout, c.stderr)
}
