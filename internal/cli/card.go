package cli

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rsa"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash.New
	_ "crypto/sha512" // registers SHA-384 and SHA-512
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/cards/p11"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/diag"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// flags returns a FlagSet with the options every card command has.
func (c *cli) flags(name string, reader *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.BoolVar(&c.json, "json", false, "JSON output / 以 JSON 輸出")
	if reader != nil {
		fs.StringVar(reader, "reader", "", "reader name (default: first with a card) / 讀卡機名稱")
		fs.Var((*listFlag)(&c.pkcs11), "pkcs11", "also reach cards through this PKCS#11 module (absolute path; repeatable) / 另以此 PKCS#11 模組讀卡")
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %v: %w", fs.Name(), err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q: %w", fs.Name(), fs.Arg(0), errUsage)
	}
	return nil
}

type readerJSON struct {
	Name    string `json:"name"`
	Card    bool   `json:"card"`
	ATR     string `json:"atr,omitempty"`
	InUse   bool   `json:"exclusive,omitempty"`
	Mute    bool   `json:"mute,omitempty"`
	Changes int    `json:"events"`
}

func (c *cli) readers(args []string) error {
	fs := c.flags("readers", nil)
	fs.Var((*listFlag)(&c.pkcs11), "pkcs11", "also list this PKCS#11 module's slots (absolute path; repeatable) / 另列出此 PKCS#11 模組的插槽")
	if err := parse(fs, args); err != nil {
		return err
	}
	states, err := c.manager().Readers(context.Background())
	if err != nil {
		return err
	}
	out := []readerJSON{}
	for _, s := range states {
		out = append(out, readerJSON{Name: s.Reader, Card: s.Present(), ATR: fmt.Sprintf("%X", s.ATR), InUse: s.Exclusive(), Mute: s.Mute(), Changes: s.Events})
	}
	if c.json {
		return c.emit(map[string]any{"readers": out})
	}
	if len(out) == 0 {
		return pcsc.ErrNoReader
	}
	for _, r := range out {
		state := "無卡片 / empty"
		if r.Card {
			state = "有卡片 / card present, ATR " + r.ATR
		}
		fmt.Fprintf(c.stdout, "%s\t%s\n", r.Name, state)
	}
	return nil
}

// manager returns the command line's way to cards: the same as the host's,
// with the configured virtual reader.
func (c *cli) manager() *cards.Manager {
	if c.cards == nil {
		cfg, _ := c.opts.LoadConfig()
		log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		modules := append(slices.Clone(cfg.PKCS11Modules), c.pkcs11...)
		c.cards = cards.New(p11.Setup{Modules: modules, ModulesOnly: cfg.ModulesOnly, NoDiscovery: cfg.NoModuleDiscovery,
			VirtualReader: cfg.VirtualReader, Log: log}.Options())
	}
	return c.cards
}

// withCard runs f on the card in reader, or in the first reader with a
// card when reader is empty.
func (c *cli) withCard(reader string, f func(reader string, t cards.Token) error) error {
	return c.manager().WithCard(context.Background(), cards.Ref{Reader: reader}, f)
}

type certJSON struct {
	ID      string        `json:"id"`
	Slot    string        `json:"slot"`
	Info    certinfo.Info `json:"info"`
	PEM     string        `json:"pem,omitempty"`
	Label   string        `json:"label"`
	Backend string        `json:"backend"`
	Module  string        `json:"module,omitempty"`
	// ReadOnly: shown but not usable here (a HiCOS card without the
	// vendor's module).
	ReadOnly bool `json:"readOnly,omitempty"`
}

// label names a certificate as Taiwan card tools do: cert1 signs, cert2
// encrypts; chosen by what its key may do (cards.CapabilitiesOf), never
// by slot.
func label(k cards.Certificate) string {
	if k.ReadOnly { // no capabilities here: named by its key usage
		switch k.Usage {
		case certinfo.UsageSignature, certinfo.UsageSignatureEncryption:
			return "cert1"
		case certinfo.UsageEncryption:
			return "cert2"
		}
	}
	switch {
	case k.Can(cards.CapSign):
		return "cert1"
	case k.Can(cards.CapDecrypt):
		return "cert2"
	}
	return "other"
}

func (c *cli) certs(args []string) error {
	var reader string
	var withPEM bool
	fs := c.flags("certs", &reader)
	fs.BoolVar(&withPEM, "pem", false, "include each certificate as PEM / 附上 PEM 格式憑證")
	if err := parse(fs, args); err != nil {
		return err
	}
	var certs []cards.Certificate
	err := c.withCard(reader, func(r string, t cards.Token) error {
		list, err := t.Certificates()
		for _, k := range list {
			certs = append(certs, c.manager().Describe(r, k))
		}
		reader = r
		return err
	})
	if err != nil {
		return err
	}
	now := time.Now()
	var out []certJSON
	for _, k := range certs {
		info := certinfo.Describe(k.Cert, now)
		cj := certJSON{ID: k.ID, Slot: k.Slot.String(), Info: info, Label: label(k), Backend: k.Source.Kind, Module: k.Source.Module, ReadOnly: k.ReadOnly}
		if withPEM {
			cj.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw}))
		}
		out = append(out, cj)
	}
	if c.json {
		return c.emit(map[string]any{"reader": reader, "certificates": out})
	}
	for _, k := range out {
		in := k.Info
		fmt.Fprintf(c.stdout, "%s（%s）slot %s\n", k.Label, usageZH(in.Usage), k.Slot)
		fmt.Fprintf(c.stdout, "  持有者 Holder:        %s\n", in.Holder)
		if in.UBN != "" {
			fmt.Fprintf(c.stdout, "  統一編號 UBN:         %s\n", in.UBN)
		}
		if in.OrgCode != "" {
			fmt.Fprintf(c.stdout, "  機關代碼 Org code:    %s\n", in.OrgCode)
		}
		test := ""
		if in.Test {
			test = "（測試用，不能用於正式業務 / TEST, not for real business）"
		}
		fmt.Fprintf(c.stdout, "  發證單位 Issuer:      %s / %s%s\n", in.CANameZH, in.CANameEN, test)
		fmt.Fprintf(c.stdout, "  效期 Valid:           %s – %s（剩 %d 天 / %d days left）\n",
			in.NotBefore.Local().Format("2006-01-02"), in.NotAfter.Local().Format("2006-01-02"), in.DaysLeft, in.DaysLeft)
		fmt.Fprintf(c.stdout, "  金鑰 Key:             %s\n", in.KeyAlgorithm)
		fmt.Fprintf(c.stdout, "  來源 Reached by:      %s\n", sourceText(k.Backend, k.Module, k.ReadOnly))
		if k.ReadOnly {
			fmt.Fprintf(c.stdout, "  注意 Note:            只能讀取；要簽章請安裝 HiCOS 用戶端程式 / read only; to sign, install the HiCOS client: https://moica.nat.gov.tw/download_1.html\n")
		}
		fmt.Fprintf(c.stdout, "  ID:                   %s\n", k.ID)
		fmt.Fprint(c.stdout, k.PEM)
	}
	return nil
}

// sourceText says how a card was reached, in both languages.
func sourceText(kind, module string, readOnly bool) string {
	switch {
	case readOnly:
		return "智慧卡服務（HiCOS 卡公開的唯讀指令）/ smart-card service (the HiCOS card's public read-only commands)"
	case kind == "pcsc":
		return "智慧卡服務（CardBridge PIV）/ smart-card service (CardBridge PIV)"
	case kind == "virtual":
		return "虛擬測試讀卡機 / virtual TEST reader"
	case kind == "pkcs11":
		return "PKCS#11 模組 / PKCS#11 module " + module
	}
	return kind
}

func usageZH(u certinfo.Usage) string {
	switch u {
	case certinfo.UsageSignature:
		return "簽章用 signature"
	case certinfo.UsageEncryption:
		return "加密用 encryption"
	case certinfo.UsageSignatureEncryption:
		return "簽章及加密 signature+encryption"
	}
	return "其他 other"
}

func (c *cli) check(args []string) error {
	var reader string
	fs := c.flags("check", &reader)
	if err := parse(fs, args); err != nil {
		return err
	}
	rep := diag.Run(context.Background(), c.manager(), diag.Options{Reader: reader})
	if c.json {
		if err := c.emit(rep); err != nil {
			return err
		}
	} else {
		mark := map[diag.Result]string{diag.Pass: "✔ 通過 PASS", diag.Warn: "⚠ 注意 WARN", diag.Fail: "✘ 失敗 FAIL", diag.Skip: "－ 略過 SKIP"}
		for i, it := range rep.Items {
			fmt.Fprintf(c.stdout, "%2d. %-12s %s / %s\n", i+1, mark[it.Result], it.Title.ZH, it.Title.EN)
			fmt.Fprintf(c.stdout, "    %s\n    %s\n", it.Detail.ZH, it.Detail.EN)
			if it.Result != diag.Pass && it.Fix.ZH != "" {
				fmt.Fprintf(c.stdout, "    → %s\n    → %s\n", it.Fix.ZH, it.Fix.EN)
			}
		}
		fmt.Fprintf(c.stdout, "\n結果 Result: %s\n", mark[rep.Overall])
	}
	if rep.Overall == diag.Fail {
		return exitCode(1)
	}
	return nil
}

// maxSecretLine caps a PIN line: far above any PIN, far below a problem.
const maxSecretLine = 64

// secret reads a PIN or PUK: one per line from standard input with
// --pin-stdin, otherwise from the terminal without echo.
func (c *cli) secret(fromStdin bool, promptZH, promptEN string) ([]byte, error) {
	if fromStdin {
		if c.lines == nil {
			c.lines = bufio.NewReaderSize(c.stdin, 256)
		}
		var line []byte
		for {
			b, err := c.lines.ReadByte()
			if err == io.EOF && len(line) > 0 {
				break
			}
			if err != nil {
				clear(line)
				return nil, fmt.Errorf("--pin-stdin: %s / %s missing: %w", promptEN, promptZH, errUsage)
			}
			if b == '\n' {
				break
			}
			if len(line) == maxSecretLine {
				clear(line)
				return nil, card.ErrPINFormat
			}
			line = append(line, b)
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, nil
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("no terminal to ask for the PIN; use --pin-stdin / 無法詢問 PIN 碼，請加 --pin-stdin: %w", errUsage)
	}
	fmt.Fprintf(c.stderr, "%s / %s: ", promptZH, promptEN)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	return b, err
}

func (c *cli) pin(args []string) error {
	if len(args) == 0 || (args[0] != "status" && args[0] != "change" && args[0] != "unblock") {
		return fmt.Errorf("pin: status, change or unblock: %w", errUsage)
	}
	var reader string
	var fromStdin bool
	fs := c.flags("pin "+args[0], &reader)
	fs.BoolVar(&fromStdin, "pin-stdin", false, "read PIN/PUK lines from standard input / 由標準輸入讀取")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	return c.withCard(reader, func(_ string, piv cards.Token) error { return c.pinAction(args[0], piv, fromStdin) })
}

// pinAction runs one pin subcommand on the card.
func (c *cli) pinAction(action string, piv cards.Token, fromStdin bool) error {
	switch action {
	case "status":
		st, err := piv.PINStatus()
		if err != nil {
			return err
		}
		if c.json {
			return c.emit(st)
		}
		switch {
		case st.Blocked:
			fmt.Fprintln(c.stdout, "PIN 碼已鎖住 / PIN blocked")
		case st.Verified:
			fmt.Fprintln(c.stdout, "PIN 碼已驗證 / PIN verified")
		default:
			fmt.Fprintf(c.stdout, "剩 %d 次嘗試機會 / %d tries left\n", st.TriesLeft, st.TriesLeft)
		}
		return nil
	case "change":
		st, err := piv.PINStatus()
		if err != nil {
			return err
		}
		if st.Blocked {
			return &card.AuthError{Ref: card.RefPIN, Blocked: true}
		}
		if !fromStdin && st.TriesLeft > 0 {
			fmt.Fprintf(c.stderr, "剩 %d 次嘗試機會 / %d tries left\n", st.TriesLeft, st.TriesLeft)
		}
		old, err := c.secret(fromStdin, "目前的 PIN 碼", "current PIN")
		if err != nil {
			return err
		}
		defer clear(old)
		next, err := c.newSecret(fromStdin)
		if err != nil {
			return err
		}
		defer clear(next)
		if err := piv.ChangePIN(old, next); err != nil {
			return err
		}
		return c.done("PIN 碼已變更。", "The PIN was changed.")
	case "unblock":
		puk, err := c.secret(fromStdin, "PUK（密碼函上的 8 碼）", "PUK (8 characters, from the PIN letter)")
		if err != nil {
			return err
		}
		defer clear(puk)
		next, err := c.newSecret(fromStdin)
		if err != nil {
			return err
		}
		defer clear(next)
		if err := piv.UnblockPIN(puk, next); err != nil {
			return err
		}
		return c.done("PIN 碼已解鎖並設定為新的 PIN 碼。", "The PIN was unblocked and set to the new PIN.")
	}
	panic("unreachable: action checked above")
}

// newSecret asks for the new PIN; on a terminal it asks twice.
func (c *cli) newSecret(fromStdin bool) ([]byte, error) {
	next, err := c.secret(fromStdin, "新的 PIN 碼（6–8 碼）", "new PIN (6–8 characters)")
	if err != nil || fromStdin {
		return next, err
	}
	again, err := c.secret(false, "再輸入一次新的 PIN 碼", "new PIN again")
	if err != nil {
		clear(next)
		return nil, err
	}
	defer clear(again)
	if string(again) != string(next) {
		clear(next)
		return nil, fmt.Errorf("兩次輸入的新 PIN 碼不同 / the two new PINs differ: %w", errUsage)
	}
	return next, nil
}

func (c *cli) done(zh, en string) error {
	if c.json {
		return c.emit(map[string]any{"ok": true})
	}
	fmt.Fprintf(c.stdout, "%s\n%s\n", zh, en)
	return nil
}

var hashes = map[string]crypto.Hash{"sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}

// maxSignInput caps --in: signing hashes the file, but a clerk's document
// is megabytes, not gigabytes.
const maxSignInput = 256 << 20

func (c *cli) sign(args []string) error {
	var reader, in, digestHex, certID, hashName string
	var fromStdin, pss bool
	fs := c.flags("sign", &reader)
	fs.StringVar(&in, "in", "", "file to sign / 要簽章的檔案")
	fs.StringVar(&digestHex, "digest", "", "digest to sign, hex / 要簽章的雜湊值")
	fs.StringVar(&certID, "cert", "", "certificate id (default: cert1) / 憑證 ID")
	fs.StringVar(&hashName, "hash", "sha256", "sha256, sha384 or sha512")
	fs.BoolVar(&pss, "pss", false, "RSASSA-PSS instead of PKCS#1 v1.5")
	fs.BoolVar(&fromStdin, "pin-stdin", false, "read the PIN from standard input / 由標準輸入讀取 PIN 碼")
	if err := parse(fs, args); err != nil {
		return err
	}
	h, ok := hashes[hashName]
	if !ok {
		return fmt.Errorf("sign: --hash %q: %w", hashName, errUsage)
	}
	if (in == "") == (digestHex == "") {
		return fmt.Errorf("sign: give --in or --digest: %w", errUsage)
	}
	var digest []byte
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		hh := h.New()
		n, err := io.Copy(hh, io.LimitReader(f, maxSignInput+1))
		f.Close()
		if err != nil {
			return err
		}
		if n > maxSignInput {
			return fmt.Errorf("sign: %s is over %d MiB: %w", in, maxSignInput>>20, errUsage)
		}
		digest = hh.Sum(nil)
	} else {
		var err error
		if digest, err = hex.DecodeString(digestHex); err != nil || len(digest) != h.Size() {
			return fmt.Errorf("sign: --digest must be %d hex bytes for %s: %w", h.Size(), hashName, errUsage)
		}
	}
	return c.withCard(reader, func(_ string, piv cards.Token) error {
		return c.signWith(piv, certID, digest, h, hashName, fromStdin, pss)
	})
}

// signWith signs digest on the card with the certificate certID picks.
func (c *cli) signWith(piv cards.Token, certID string, digest []byte, h crypto.Hash, hashName string, fromStdin, pss bool) error {
	certs, err := piv.Certificates()
	if err != nil {
		return err
	}
	chosen, err := pickCert(certs, certID)
	if err != nil {
		return err
	}
	if !fromStdin {
		if st, err := piv.PINStatus(); err == nil && !st.Blocked && st.TriesLeft > 0 {
			fmt.Fprintf(c.stderr, "剩 %d 次嘗試機會 / %d tries left\n", st.TriesLeft, st.TriesLeft)
		}
	}
	pin, err := c.secret(fromStdin, "PIN 碼", "PIN")
	if err != nil {
		return err
	}
	defer clear(pin)
	var opts crypto.SignerOpts = h
	alg := "RSA-PKCS1-v1_5"
	if pss {
		opts = &rsa.PSSOptions{Hash: h, SaltLength: rsa.PSSSaltLengthEqualsHash}
		alg = "RSA-PSS"
	}
	if _, ok := chosen.Cert.PublicKey.(*rsa.PublicKey); !ok {
		alg = "ECDSA"
	}
	sig, err := piv.Sign(chosen.ID, digest, opts, pin)
	if err != nil {
		return err
	}
	if c.json {
		return c.emit(map[string]any{"certificate": chosen.ID, "algorithm": alg, "hash": hashName,
			"digest": hex.EncodeToString(digest), "signature": base64.StdEncoding.EncodeToString(sig)})
	}
	fmt.Fprintln(c.stdout, base64.StdEncoding.EncodeToString(sig))
	return nil
}

// pickCert returns the certificate with id, or cert1 (the first
// certificate that may sign) when id is empty.
func pickCert(certs []card.Certificate, id string) (card.Certificate, error) {
	for _, k := range certs {
		if id != "" && (k.ID == id || (len(id) >= 8 && strings.HasPrefix(k.ID, strings.ToLower(id)))) {
			return k, nil
		}
		if id == "" && slices.Contains(cards.CapabilitiesOf(k), cards.CapSign) {
			return k, nil
		}
	}
	if id == "" {
		return card.Certificate{}, fmt.Errorf("no signing certificate: %w", card.ErrUnknownCertificate)
	}
	return card.Certificate{}, card.ErrUnknownCertificate
}
