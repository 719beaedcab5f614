package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
)

// Settings are eClient's 收文及整合設定 and connection settings, as the
// agency's clerk sets them. Their defaults are what the guide our users
// follow sets (seed: eClient setup step 19): 收文存檔 on, 不修改DI檔名 on,
// and 啟用收文列印 / 同時列印附件檔 turned off, which the guide tells
// kindergartens to do.
type Settings struct {
	Agency  string `json:"agency"`  // 機關代碼: XC + 統一編號
	Unit    string `json:"unit"`    // 單位代碼, blank by default
	Centre  string `json:"centre"`  // the exchange centre's origin
	Archive string `json:"archive"` // the archive folder (收文存檔)
	// SaveArchive is 收文存檔: received documents are written to Archive;
	// off, they are kept in the agency's exchange folder only.
	SaveArchive bool `json:"saveArchive"`
	// KeepDINames is 不修改DI檔名.
	KeepDINames bool `json:"keepDINames"`
	// Print is 啟用收文列印: each document is printed as it completes.
	Print bool `json:"print"`
	// PrintAttachments is 同時列印附件檔.
	PrintAttachments bool `json:"printAttachments"`
	// Printer names the printer; blank is the computer's default.
	Printer string `json:"printer"`
}

// flags are the boolean settings, their keys and defaults.
var flags = []struct {
	key string
	def bool
	get func(*Settings) *bool
}{
	{"saveArchive", true, func(s *Settings) *bool { return &s.SaveArchive }},
	{"keepDIName", true, func(s *Settings) *bool { return &s.KeepDINames }},
	{"print", false, func(s *Settings) *bool { return &s.Print }},
	{"printAttachments", false, func(s *Settings) *bool { return &s.PrintAttachments }},
}

// Settings reads the agency's settings.
func (a *Agent) Settings(ctx context.Context) (Settings, error) {
	var s Settings
	for k, p := range map[string]*string{"agency": &s.Agency, "unit": &s.Unit, "centre": &s.Centre, "archive": &s.Archive, "printer": &s.Printer} {
		v, err := a.st.get(ctx, k)
		if err != nil {
			return s, err
		}
		*p = v
	}
	for _, f := range flags {
		v, err := a.st.get(ctx, f.key)
		if err != nil {
			return s, err
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			b = f.def
		}
		*f.get(&s) = b
	}
	return s, nil
}

// SetSettings checks and stores the settings: the 機關代碼's check digit,
// the 單位代碼, the centre's origin, an absolute archive folder, a printer
// name the spooler cannot take for an option.
func (a *Agent) SetSettings(ctx context.Context, s Settings) error {
	if err := di.CheckAgencyCode(s.Agency); err != nil {
		return fmt.Errorf("機關代碼 / agency code: %s / %s", err.ZH, err.EN)
	}
	if len(s.Unit) > 7 || strings.IndexFunc(s.Unit, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') }) >= 0 {
		return fmt.Errorf("單位代碼最多 7 個數字或大寫字母 / the unit code is up to 7 digits or capital letters: %q", s.Unit)
	}
	if _, err := a.o.Dial(s.Centre); err != nil {
		return err
	}
	if !filepath.IsAbs(s.Archive) {
		return fmt.Errorf("收文存放資料夾須為完整路徑 / the archive folder %q must be an absolute path", s.Archive)
	}
	if strings.HasPrefix(s.Printer, "-") || strings.ContainsAny(s.Printer, "\x00\r\n") {
		return fmt.Errorf("印表機名稱不正確 / not a printer name: %q", s.Printer)
	}
	for k, v := range map[string]string{"agency": s.Agency, "unit": s.Unit, "centre": s.Centre, "archive": s.Archive, "printer": s.Printer} {
		if err := a.st.set(ctx, k, v); err != nil {
			return err
		}
	}
	for _, f := range flags {
		if err := a.st.set(ctx, f.key, strconv.FormatBool(*f.get(&s))); err != nil {
			return err
		}
	}
	return nil
}
