// Package exchangecli is the command line of the 公文 exchange agent,
// `cardbridge exchange …` (docs/exchange.md). It lives in its own program,
// cardbridge-exchange, which cardbridge starts for that command: the agent's
// HTTP client and embedded database stay out of the native host.
package exchangecli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cli"
	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/exchange/portable"
	"github.com/cardbridge/cardbridge/internal/exchange/service"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// defaultExchangeHome is where an agency's exchange state lives: the
// user's data folder.
func defaultExchangeHome() string {
	base := os.Getenv("XDG_DATA_HOME")
	switch {
	case runtime.GOOS == "windows":
		base = os.Getenv("LOCALAPPDATA")
	case runtime.GOOS == "darwin":
		if h, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(h, "Library", "Application Support")
		}
	case base == "":
		if h, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(h, ".local", "share")
		}
	}
	return filepath.Join(base, "cardbridge", "exchange")
}

// exchangeCmd holds what every exchange command shares.
type exchangeCmd struct {
	home, reader string
	pinStdin     bool
}

func exchangeFlags(c cli.Env, name string, e *exchangeCmd) *flag.FlagSet {
	fs := c.Flags("exchange "+name, &e.reader)
	fs.StringVar(&e.home, "home", defaultExchangeHome(), "the agency's exchange folder / 交換資料夾")
	fs.BoolVar(&e.pinStdin, "pin-stdin", false, "read the PIN from standard input / 由標準輸入讀取 PIN 碼")
	return fs
}

// session asks for the PIN once and opens the card for this process: the
// agency's card (agencyReader) unless --reader names one.
func session(c cli.Env, e *exchangeCmd, a *agent.Agent) (*cards.Session, error) {
	pin, err := c.Secret(e.pinStdin, "PIN 碼", "PIN")
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reader := e.reader
	if reader == "" {
		if reader = agencyReader(ctx, c, a); reader == "" {
			return nil, errNoAgencyCard(ctx, a)
		}
	}
	return c.Manager().NewSession(ctx, reader, pin, c.Version())
}

// Run runs `exchange args…` with the command line's environment. What the
// exchange refuses (the centre unreachable, a document not 收文完成, the
// card of another agency) is ERR_EXCHANGE_FAILED with the agent's own
// words as the reason, not an unexpected error; card errors keep their
// codes.
func Run(c cli.Env, args []string) error {
	err := run(c, args)
	if err == nil || errors.Is(err, cli.ErrUsage) || cli.IsExit(err) {
		return err
	}
	if protocol.CodeFor(errcode.Map(err)) != protocol.ErrInternal {
		return err
	}
	return &protocol.Error{Code: protocol.ErrExchangeFailed, Details: map[string]any{"reason": err.Error()}, Err: err}
}

func run(c cli.Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("exchange: setup, settings, send, sync, list, show, export, print, return or announcements: %w", cli.ErrUsage)
	}
	ctx := context.Background()
	var e exchangeCmd
	switch args[0] {
	case "setup":
		var centre, code, archive, roots string
		fs := exchangeFlags(c, "setup", &e)
		fs.StringVar(&centre, "centre", "", "the exchange centre, e.g. https://centre.example.tw / 交換中心")
		fs.StringVar(&code, "agency", "", "our 機關代碼 (XC + 統一編號) / 本機關代碼")
		fs.StringVar(&archive, "archive", "", "where received documents are written / 收文存放資料夾")
		fs.StringVar(&roots, "roots", "", "PEM file of the CA certificates senders' certificates chain to / 信任的憑證機構")
		keepDI := fs.Bool("keep-di-names", true, "不修改DI檔名: keep received DIs' file names (false: name them by 發文字號)")
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		if archive == "" {
			archive = filepath.Join(e.home, "archive")
		}
		if abs, err := filepath.Abs(archive); err == nil {
			archive = abs
		}
		var rootsPEM []byte
		if roots != "" {
			var err error
			if rootsPEM, err = os.ReadFile(roots); err != nil {
				return err
			}
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		if err := a.Setup(ctx, centre, code, archive, rootsPEM); err != nil {
			return fmt.Errorf("exchange setup: %w: %w", err, cli.ErrUsage)
		}
		if err := a.KeepDINames(ctx, *keepDI); err != nil {
			return err
		}
		return say(c, map[string]any{"home": e.home, "centre": centre, "agency": code, "archive": archive},
			"已設定 / set up: %s @ %s，收文存放 / archive: %s\n", code, centre, archive)
	case "send":
		var to, subject, diFile, number string
		var attach cli.ListFlag
		fs := exchangeFlags(c, "send", &e)
		fs.StringVar(&to, "to", "", "recipients' 機關代碼, comma separated / 受文機關")
		fs.StringVar(&subject, "subject", "", "主旨 / subject")
		fs.StringVar(&diFile, "di", "", "the DI file / 公文 DI 檔")
		var bodyFile string
		fs.StringVar(&bodyFile, "body", "", "instead of --di: a text file with 說明, one item a paragraph; the 函 is composed from it and --subject / 說明文字檔")
		fs.StringVar(&number, "number", "", "發文字號 (default from the DI)")
		fs.Var(&attach, "attach", "an attachment (repeatable) / 附件")
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		if to == "" || (diFile == "") == (bodyFile == "") || (bodyFile != "" && subject == "") {
			return fmt.Errorf("exchange send: --to, and --di FILE or --body FILE with --subject TEXT: %w", cli.ErrUsage)
		}
		var d agent.Draft
		var err error
		if bodyFile != "" {
			d, err = composedDraft(bodyFile, attach, strings.Split(to, ","), subject, number)
		} else {
			d, err = draftFrom(diFile, attach, strings.Split(to, ","), subject, number)
		}
		if err != nil {
			return err
		}
		return withAgent(c, ctx, &e, func(a *agent.Agent, s *cards.Session) error {
			id, err := a.Queue(ctx, s, d)
			if err != nil {
				return err
			}
			return say(c, map[string]any{"sendId": id, "state": agent.Queued}, "已排入發文匣 / queued: %s（執行 cardbridge exchange sync 送出 / run cardbridge exchange sync to send）\n", id)
		})
	case "sync":
		var watch bool
		var poll time.Duration
		fs := exchangeFlags(c, "sync", &e)
		fs.BoolVar(&watch, "watch", false, "keep going: take documents in as the centre pushes them, until Ctrl-C / 持續收發，按 Ctrl-C 結束")
		fs.DurationVar(&poll, "poll", time.Minute, "with --watch, how often to look besides the push channel / 輪詢間隔")
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		var ws []agent.Warning
		show := func(rep agent.Report, err error) {
			if c.JSON() { // one line per sync: a stream a program reads line by line
				_ = json.NewEncoder(c.Stdout()).Encode(syncResult{Report: rep, Error: errText(err), Warnings: ws})
				return
			}
			if err != nil {
				fmt.Fprintf(c.Stdout(), "%s 同步未完成，稍後自動再試 / sync not finished, tried again later: %v\n", time.Now().Format("15:04:05"), err)
			}
			fmt.Fprintf(c.Stdout(), "%s 送出 sent %d，重試中 retrying %d，失敗 failed %d，收文 received %d，收文異常 refused %d，狀態更新 updates %d\n", time.Now().Format("15:04:05"),
				len(rep.Sent), len(rep.Retrying), len(rep.Failed), len(rep.Received), len(rep.Refused), rep.Updated)
		}
		return withAgent(c, ctx, &e, func(a *agent.Agent, s *cards.Session) error {
			ws = warnings(s)
			if watch {
				ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
				if !c.JSON() {
					fmt.Fprintln(c.Stdout(), "持續收發中，按 Ctrl-C 結束 / watching for documents; Ctrl-C ends")
				}
				first := true // said even when it did nothing: the watch is up
				return a.Watch(ctx, s, poll, func(rep agent.Report, err error) {
					if first || err != nil || !rep.Empty() {
						show(rep, err)
					}
					first = false
				})
			}
			rep, err := a.Sync(ctx, s)
			if c.JSON() {
				// One document, the error in it: a failed sync still
				// reports what it did before it stopped.
				if jerr := c.Emit(syncResult{Report: rep, Error: errText(err), Warnings: ws}); jerr != nil {
					return jerr
				}
				if err != nil {
					return cli.Exit(1)
				}
				return nil
			}
			if err != nil {
				return err
			}
			show(rep, nil)
			return nil
		})
	case "show":
		fs := exchangeFlags(c, "show", &e)
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			return fmt.Errorf("exchange show ID: %w", cli.ErrUsage)
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		d, err := a.Show(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if c.JSON() {
			return c.Emit(d)
		}
		w := c.Stdout()
		if i := d.Incoming; i != nil {
			fmt.Fprintf(w, "收文 / received  %s\n  發文機關 / from: %s\n  主旨 / subject: %s\n  發文字號 / number: %s\n  狀態 / state: %s (%s) %s\n  更新 / updated: %s\n",
				i.PackageID, i.Sender, i.Subject, i.Number, i.Label, i.State, i.Reason, i.Updated.Format("2006-01-02 15:04"))
			if i.Folder != "" {
				fmt.Fprintf(w, "  存放 / folder: %s\n  檔案 / files: %s\n", i.Folder, strings.Join(d.Files, ", "))
			}
			return nil
		}
		o := d.Outgoing
		fmt.Fprintf(w, "發文 / sent  %s  %s\n  主旨 / subject: %s\n  建立 / created: %s\n  狀態 / state: %s (%s)，嘗試 / attempts %d\n",
			o.SendID, o.PackageID, o.Subject, o.Created.Format("2006-01-02 15:04"), o.Label, o.State, o.Attempts)
		if o.LastError != "" {
			fmt.Fprintf(w, "  上次錯誤 / last error: %s\n", o.LastError)
		}
		for _, r := range o.Recipients {
			fmt.Fprintf(w, "  → %s\t%s (%s)\t%s %s\n", r.Code, r.Label, r.State, r.Updated.Format("2006-01-02 15:04"), r.Reason)
		}
		return nil
	case "list":
		var in, out bool
		var from, to string
		fs := exchangeFlags(c, "list", &e)
		fs.BoolVar(&in, "in", false, "收文匣 only")
		fs.BoolVar(&out, "out", false, "發文匣 only")
		fs.StringVar(&from, "from", "", "from date YYYY-MM-DD (default today)")
		fs.StringVar(&to, "to", "", "to date YYYY-MM-DD, inclusive (default today)")
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		start, end, err := dayRange(from, to)
		if err != nil {
			return err
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		res := map[string]any{}
		if !out {
			if res["inbox"], err = a.Inbox(ctx, start, end); err != nil {
				return err
			}
		}
		if !in {
			if res["outbox"], err = a.Outbox(ctx, start, end); err != nil {
				return err
			}
		}
		if c.JSON() {
			return c.Emit(res)
		}
		if ins, ok := res["inbox"].([]agent.Incoming); ok {
			fmt.Fprintln(c.Stdout(), "收文匣 / inbox")
			for _, i := range ins {
				mark := " "
				if i.Unread {
					mark = "*"
				}
				fmt.Fprintf(c.Stdout(), "%s %s\t%s\t%s\t%s\t%s %s\n", mark, i.Updated.Format("2006-01-02 15:04"), i.Label, i.Sender, i.Subject, i.PackageID, i.Reason)
			}
		}
		if outs, ok := res["outbox"].([]agent.Outgoing); ok {
			fmt.Fprintln(c.Stdout(), "發文匣 / outbox")
			for _, o := range outs {
				fmt.Fprintf(c.Stdout(), "  %s\t%s\t%s\t%s\n", o.Created.Format("2006-01-02 15:04"), o.Label, o.Subject, o.SendID)
				for _, r := range o.Recipients {
					fmt.Fprintf(c.Stdout(), "      → %s\t%s %s\n", r.Code, r.Label, r.Reason)
				}
			}
		}
		return nil
	case "serve":
		// The exchange as a program (the extension's page, next) reaches it:
		// JSON requests on standard input, one a line; answers and events
		// on standard output (internal/exchange/service).
		fs := exchangeFlags(c, "serve", &e)
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		svc := &service.Service{Agent: a, Open: func(ctx context.Context, reader string, pin []byte) (service.Session, error) {
			if reader == "" {
				reader = e.reader
			}
			if reader == "" {
				if reader = agencyReader(ctx, c, a); reader == "" {
					return nil, errNoAgencyCard(ctx, a)
				}
			}
			return c.Manager().NewSession(ctx, reader, pin, c.Version())
		}}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return svc.Serve(ctx, c.Stdin(), c.Stdout())
	case "settings":
		// 收文及整合設定: shown, or changed by the flags given.
		fs := exchangeFlags(c, "settings", &e)
		unit := fs.String("unit", "", "單位代碼 (blank by default)")
		archive := fs.String("archive", "", "收文存放資料夾 / archive folder")
		save := fs.String("save-archive", "", "收文存檔 on|off")
		keep := fs.String("keep-di-names", "", "不修改DI檔名 on|off")
		printOn := fs.String("print", "", "啟用收文列印 on|off")
		printAtt := fs.String("print-attachments", "", "同時列印附件檔 on|off")
		printerName := fs.String("printer", "", "印表機 (blank: the default printer)")
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		set, err := a.Settings(ctx)
		if err != nil {
			return err
		}
		changed := false
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "unit":
				set.Unit, changed = *unit, true
			case "archive":
				set.Archive, changed = *archive, true
			case "printer":
				set.Printer, changed = *printerName, true
			}
		})
		for _, o := range []struct {
			v   string
			dst *bool
		}{{*save, &set.SaveArchive}, {*keep, &set.KeepDINames}, {*printOn, &set.Print}, {*printAtt, &set.PrintAttachments}} {
			switch o.v {
			case "":
			case "on", "true", "yes":
				*o.dst, changed = true, true
			case "off", "false", "no":
				*o.dst, changed = false, true
			default:
				return fmt.Errorf("exchange settings: %q: on or off: %w", o.v, cli.ErrUsage)
			}
		}
		if changed {
			if err := a.SetSettings(ctx, set); err != nil {
				return err
			}
		}
		if c.JSON() {
			return c.Emit(set)
		}
		onOff := func(b bool) string {
			if b {
				return "☑ 開 on"
			}
			return "☐ 關 off"
		}
		w := c.Stdout()
		fmt.Fprintf(w, "機關代碼 / agency:          %s\n單位代碼 / unit:            %s\n交換中心 / centre:          %s\n收文存放資料夾 / archive:    %s\n", set.Agency, set.Unit, set.Centre, set.Archive)
		fmt.Fprintf(w, "收文存檔 / save to archive: %s\n不修改DI檔名 / keep DI names: %s\n啟用收文列印 / print:        %s\n同時列印附件檔 / attachments: %s\n印表機 / printer:            %s\n",
			onOff(set.SaveArchive), onOff(set.KeepDINames), onOff(set.Print), onOff(set.PrintAttachments), set.Printer)
		return nil
	case "print":
		// 補列印勾選的公文: documents that are 收文完成, printed again.
		fs := exchangeFlags(c, "print", &e)
		att := fs.Bool("attachments", false, "同時列印附件檔 / the attachments too")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() == 0 {
			return fmt.Errorf("exchange print ID… [--attachments]: %w", cli.ErrUsage)
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		res := a.Print(ctx, fs.Args(), *att)
		failed := 0
		for _, r := range res {
			if r.Error != "" {
				failed++
			}
		}
		if c.JSON() {
			if err := c.Emit(map[string]any{"printed": res}); err != nil {
				return err
			}
		} else {
			for _, r := range res {
				if r.Error != "" {
					fmt.Fprintf(c.Stdout(), "✘ %s %s：%s\n", r.PackageID, r.File, r.Error)
				} else {
					fmt.Fprintf(c.Stdout(), "✔ %s %s（%s）\n", r.PackageID, r.File, r.Job)
				}
			}
		}
		if failed > 0 { // each failure is said above, with its reason
			return cli.Exit(1)
		}
		return nil
	case "export":
		var pdf, fontPath string
		fs := exchangeFlags(c, "export", &e)
		fs.StringVar(&pdf, "pdf", "", "write the 可攜式公文 (PDF) to FILE / 可攜式公文存檔")
		fs.StringVar(&fontPath, "font", "", "a TrueType font to embed (default: 標楷體 or the system's kai face) / 字型")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 || pdf == "" {
			return fmt.Errorf("exchange export ID --pdf FILE: %w", cli.ErrUsage)
		}
		_, font, err := portable.FindFont(fontPath, portable.FontCandidates(runtime.GOOS, os.Getenv))
		if err != nil {
			return err
		}
		a, err := agent.Open(ctx, agent.Options{Home: e.home})
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := a.Portable(ctx, fs.Arg(0), font)
		if err != nil {
			return err
		}
		if err := os.WriteFile(pdf, b, 0o644); err != nil {
			return err
		}
		return say(c, map[string]any{"packageId": fs.Arg(0), "pdf": pdf, "size": len(b)}, "已匯出可攜式公文 / exported: %s\n", pdf)
	case "return":
		var reason string
		fs := exchangeFlags(c, "return", &e)
		fs.StringVar(&reason, "reason", "", "why / 退文理由")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			return fmt.Errorf("exchange return ID --reason TEXT: %w", cli.ErrUsage)
		}
		return withAgent(c, ctx, &e, func(a *agent.Agent, s *cards.Session) error {
			if err := a.Return(ctx, s, fs.Arg(0), reason); err != nil {
				return err
			}
			return say(c, map[string]any{"packageId": fs.Arg(0), "state": "returned"}, "已退文 / returned: %s\n", fs.Arg(0))
		})
	case "announcements":
		fs := exchangeFlags(c, "announcements", &e)
		if err := c.Parse(fs, args[1:]); err != nil {
			return err
		}
		return withAgent(c, ctx, &e, func(a *agent.Agent, s *cards.Session) error {
			as, err := a.Announcements(ctx, s)
			if err != nil {
				return err
			}
			if c.JSON() {
				return c.Emit(map[string]any{"announcements": as})
			}
			for _, x := range as {
				fmt.Fprintf(c.Stdout(), "%s  %s\n", x.At.Local().Format("2006-01-02 15:04"), x.Text)
			}
			return nil
		})
	}
	return fmt.Errorf("exchange %q: setup, settings, send, sync, list, show, export, print, return or announcements: %w", args[0], cli.ErrUsage)
}

// withAgent opens the home and the card session for f.
func withAgent(c cli.Env, ctx context.Context, e *exchangeCmd, f func(*agent.Agent, *cards.Session) error) error {
	a, err := agent.Open(ctx, agent.Options{Home: e.home})
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := session(c, e, a)
	if err != nil {
		return err
	}
	defer s.Close()
	if !c.JSON() { // with --json, sync reports them in its answer
		for _, w := range warnings(s) {
			fmt.Fprintf(c.Stdout(), "⚠ %s\n  %s\n", w.MessageZh, w.Message)
		}
	}
	return f(a, s)
}

// warnings are the notices about the card's certificates expiring.
func warnings(s *cards.Session) []agent.Warning {
	sign, _ := s.Signer()
	enc, _ := s.Decrypter()
	return agent.ExpiryWarnings(time.Now(), sign, enc)
}

// say prints v as JSON with --json, else the formatted text.
func say(c cli.Env, v any, format string, args ...any) error {
	if c.JSON() {
		return c.Emit(v)
	}
	fmt.Fprintf(c.Stdout(), format, args...)
	return nil
}

// draftFrom reads a DI (its 主旨 and 發文字號 when not given) and the
// attachments into a draft.
func draftFrom(diFile string, attach []string, to []string, subject, number string) (agent.Draft, error) {
	b, err := os.ReadFile(diFile)
	if err != nil {
		return agent.Draft{}, err
	}
	l, err := di.Parse(b)
	if err != nil {
		return agent.Draft{}, fmt.Errorf("%s: %w", diFile, err)
	}
	if ps := di.Validate(l); len(ps) > 0 {
		var msgs []string
		for _, p := range ps {
			msgs = append(msgs, p.Element+"："+p.ZH+" / "+p.EN)
		}
		return agent.Draft{}, fmt.Errorf("%s:\n  %s", diFile, strings.Join(msgs, "\n  "))
	}
	if subject == "" {
		subject = l.Subject
	}
	if number == "" {
		number = l.Number.String()
	}
	declared := map[string]bool{}
	for _, f := range l.Attachment.Files {
		declared[f.Name] = true
	}
	for _, p := range attach {
		if !declared[filepath.Base(p)] {
			return agent.Draft{}, fmt.Errorf("%s 沒有宣告附件「%s」/ the DI does not declare the attachment %s: %w", diFile, filepath.Base(p), filepath.Base(p), cli.ErrUsage)
		}
		delete(declared, filepath.Base(p))
	}
	for name := range declared {
		return agent.Draft{}, fmt.Errorf("%s 宣告的附件「%s」沒有以 --attach 提供 / the DI declares %s; give it with --attach: %w", diFile, name, name, cli.ErrUsage)
	}
	d := agent.Draft{To: to, Subject: subject, Number: number, DI: parcel.File{Name: filepath.Base(diFile), Data: b}}
	for _, p := range attach {
		data, err := os.ReadFile(p)
		if err != nil {
			return agent.Draft{}, err
		}
		d.Files = append(d.Files, parcel.File{Name: filepath.Base(p), Role: parcel.RoleAttachment, Data: data})
	}
	return d, nil
}

// composedDraft is a draft the agent composes the 函 of: the body's text
// and the attachments as they are.
func composedDraft(bodyFile string, attach []string, to []string, subject, number string) (agent.Draft, error) {
	b, err := os.ReadFile(bodyFile)
	if err != nil {
		return agent.Draft{}, err
	}
	if len(b) > di.MaxSize || !utf8.Valid(b) {
		return agent.Draft{}, fmt.Errorf("%s: 說明須為 UTF-8 文字檔 / the body must be a UTF-8 text file of at most %d bytes: %w", bodyFile, di.MaxSize, cli.ErrUsage)
	}
	d := agent.Draft{To: to, Subject: subject, Number: number, Body: string(b)}
	for _, p := range attach {
		data, err := os.ReadFile(p)
		if err != nil {
			return agent.Draft{}, err
		}
		d.Files = append(d.Files, parcel.File{Name: filepath.Base(p), Role: parcel.RoleAttachment, Data: data})
	}
	return d, nil
}

// dayRange is [from 00:00, to+1 00:00) in local time; today by default, as
// eClient shows.
func dayRange(from, to string) (time.Time, time.Time, error) {
	now := time.Now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local)
	start, end := today, today
	var err error
	if from != "" {
		if start, err = time.ParseInLocation(time.DateOnly, from, time.Local); err != nil {
			return start, end, fmt.Errorf("--from %q: YYYY-MM-DD: %w", from, cli.ErrUsage)
		}
	}
	if to != "" {
		if end, err = time.ParseInLocation(time.DateOnly, to, time.Local); err != nil {
			return start, end, fmt.Errorf("--to %q: YYYY-MM-DD: %w", to, cli.ErrUsage)
		}
	}
	return start, end.AddDate(0, 0, 1), nil
}

// syncResult is one sync of `exchange sync --watch --json`: a JSON line
// each, with the error that made it stop short, if any.
type syncResult struct {
	agent.Report
	Error    string          `json:"error,omitempty"`
	Warnings []agent.Warning `json:"warnings,omitempty"` // the card's certificates expiring
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errNoAgencyCard says no reader holds the agency's card: the PIN typed
// for the exchange goes to no other card.
func errNoAgencyCard(ctx context.Context, a *agent.Agent) error {
	_, agency, _ := a.Centre(ctx)
	return fmt.Errorf("讀卡機中沒有本機關（%s）的憑證卡，PIN 碼沒有送出。請插入機關憑證卡後再試，或以 --reader 指定讀卡機 / no card of this agency (%s) is in a reader, so the PIN was not sent; insert the agency card and try again, or name the reader with --reader", agency, agency)
}

// agencyReader is the reader whose card carries the agency's certificate
// (its 機關代碼 as the centre reads it, parcel.AgencyCodeOf), so that a PIN
// typed for the exchange goes to the agency's card and not to a clerk's
// own card in another reader; "" when no card is the agency's.
func agencyReader(ctx context.Context, c cli.Env, a *agent.Agent) string {
	_, agency, err := a.Centre(ctx)
	if err != nil || agency == "" {
		return ""
	}
	certs, err := c.Manager().Certificates(ctx, "")
	if err != nil {
		return ""
	}
	for _, k := range certs {
		if k.Cert != nil && parcel.AgencyCodeOf(k.Cert) == agency {
			return k.Reader
		}
	}
	return ""
}
