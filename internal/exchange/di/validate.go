package di

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// Problem is one thing wrong with a letter, naming the element (its path
// from the root, as 發文機關/機關代碼) and saying what, in both languages.
type Problem struct {
	Element string
	ZH, EN  string
}

func (p *Problem) Error() string { return p.Element + ": " + p.EN }

// ErrInvalid is matched by every *Problem.
var ErrInvalid = errors.New("invalid DI")

// Is makes every Problem match ErrInvalid.
func (p *Problem) Is(target error) bool { return target == ErrInvalid }

// The code lists of the 104 DTD.
var (
	Kinds    = []string{"函", "書函"}
	Speeds   = []string{"普通件", "速件", "最速件"}
	Secrecys = []string{"", "密", "機密", "極機密", "絕對機密"}
)

// Validate checks what an exchange needs of a 函: the required elements,
// the code lists, the 機關代碼 of sender and addressees, and the
// attachments (declared, with file names safe to write on any system).
// It returns every problem found, in document order; none means valid.
func Validate(l *Letter) []*Problem {
	var ps []*Problem
	add := func(el, zh, en string) { ps = append(ps, &Problem{Element: el, ZH: zh, EN: en}) }
	required := func(el, v string) {
		if strings.TrimSpace(v) == "" {
			add(el, "必須填寫。", "is required.")
		}
	}
	for _, el := range l.Repeated {
		add(el, "只能有一個，卻出現不只一次（其他程式可能顯示另一個）。", "may appear once but appears more than once (another reader may show another one).")
	}
	if l.DocType != "函" {
		add(l.DocType, "文件類別必須是「函」。", fmt.Sprintf("the document must be a 函, not %q.", l.DocType))
	}
	required("發文機關/全銜", l.Sender.Name)
	if l.Sender.Code == "" {
		add("發文機關/機關代碼", "必須填寫。", "is required.")
	} else if err := CheckAgencyCode(l.Sender.Code); err != nil {
		add("發文機關/機關代碼", err.ZH, err.EN)
	}
	if !slices.Contains(Kinds, l.Kind) {
		add("函類別", "代碼必須是「函」或「書函」。", fmt.Sprintf("代碼 must be 函 or 書函, not %q.", l.Kind))
	}
	if l.Recipient.Roster == "" {
		required("受文者/全銜", l.Recipient.Name)
		if l.Recipient.Code != "" {
			if err := CheckAgencyCode(l.Recipient.Code); err != nil {
				add("受文者/機關代碼", err.ZH, err.EN)
			}
		}
	} else if l.Recipient.RosterFile.Entity == "" {
		add("受文者/交換表", "交換表單「"+l.Recipient.Roster+"」沒有在 DOCTYPE 宣告。", "交換表單 "+l.Recipient.Roster+" is not declared in the DOCTYPE.")
	}
	required("發文日期/年月日", l.Date)
	required("發文字號/字", l.Number.Word)
	required("發文字號/文號/流水號", l.Number.Serial)
	if l.Speed != "" && !slices.Contains(Speeds, l.Speed) {
		add("速別", "代碼必須是普通件、速件或最速件。", fmt.Sprintf("代碼 must be 普通件, 速件 or 最速件, not %q.", l.Speed))
	}
	if !slices.Contains(Secrecys, l.Secrecy) {
		add("密等及解密條件或保密期限/密等", "必須是空白、密、機密、極機密或絕對機密。", fmt.Sprintf("must be empty, 密, 機密, 極機密 or 絕對機密, not %q.", l.Secrecy))
	}
	required("主旨/文字", l.Subject)
	seen := map[string]bool{}
	for _, f := range l.Attachment.Files {
		el := "附件/附件檔名[" + f.Entity + "]"
		switch {
		case f.Name == "":
			add(el, "附件「"+f.Entity+"」沒有在 DOCTYPE 宣告檔名。", "attachment "+f.Entity+" has no file declared in the DOCTYPE.")
			continue
		case seen[strings.ToLower(f.Name)]:
			add(el, "附件檔名「"+f.Name+"」重複。", "attachment file name "+f.Name+" appears twice.")
		}
		seen[strings.ToLower(f.Name)] = true
		if err := CheckFileName(f.Name); err != nil {
			add(el, err.ZH, err.EN)
		}
	}
	if len(l.Originals) == 0 && l.Recipient.Roster == "" {
		add("正本", "至少要有一個正本受文者。", "at least one 正本 addressee is required.")
	}
	for i, list := range [][]Party{l.Originals, l.Copies} {
		name := []string{"正本", "副本"}[i]
		for _, p := range list {
			if strings.TrimSpace(p.Name) == "" {
				add(name+"/全銜", "必須填寫。", "is required.")
			}
			if p.Code != "" {
				if err := CheckAgencyCode(p.Code); err != nil {
					add(name+"/機關代碼", err.ZH, err.EN)
				}
			}
		}
	}
	return ps
}

// Refusal is why a 機關代碼 or file name is refused, in both languages.
type Refusal struct{ ZH, EN string }

func (e *Refusal) Error() string { return e.EN }

// CheckAgencyCode checks a 機關代碼: ten characters, digits and capital
// letters, optionally followed by a 單位代碼 of up to seven (17 in all).
// An XC code is an organisation's or business's: "XC" and its 8-digit 統一
// 編號, whose check digit must hold (the ÷5 rule of 2023, certinfo).
func CheckAgencyCode(code string) *Refusal {
	if len(code) < 10 || len(code) > 17 {
		return &Refusal{"機關代碼「" + code + "」應為 10 碼（可再加 7 碼以內的單位代碼）。", "機關代碼 " + code + " must be 10 characters (plus a 單位代碼 of up to 7)."}
	}
	for _, r := range code {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') {
			return &Refusal{"機關代碼「" + code + "」只能有數字與大寫英文字母。", "機關代碼 " + code + " may hold only digits and capital letters."}
		}
	}
	if strings.HasPrefix(code, "XC") {
		ubn := code[2:10]
		if !certinfo.ValidUBN(ubn) {
			return &Refusal{"機關代碼「" + code + "」的統一編號 " + ubn + " 檢查碼不正確，請再核對一次。", "the 統一編號 " + ubn + " in 機關代碼 " + code + " fails its check digit; check it again."}
		}
	}
	return nil
}

// AgencyCodeOf is the XC 機關代碼 of the organisation with 統一編號 ubn,
// or "" when ubn is not a valid 統一編號.
func AgencyCodeOf(ubn string) string {
	if !certinfo.ValidUBN(ubn) {
		return ""
	}
	return "XC" + ubn
}

// reserved are the names Windows keeps for devices, with any extension.
var reserved = []string{"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
	"COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³",
	"LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³"}

// MaxFileName is the longest attachment name accepted, in bytes (UTF-8).
const MaxFileName = 200

// CheckFileName accepts an attachment file name that can be written as it
// is in the archive folder on Windows, macOS and Linux and reads as what it
// is: one name (no folder, no "..", no drive), no control, invisible
// formatting (bidirectional overrides, zero-width characters) or reserved
// characters, not a Windows device name, not ending in a dot or space, at
// most MaxFileName bytes.
func CheckFileName(name string) *Refusal {
	bad := func(why string) *Refusal {
		return &Refusal{"附件檔名「" + name + "」不能使用：" + why + "。", "attachment file name " + fmt.Sprintf("%q", name) + " cannot be used: " + why + "."}
	}
	switch {
	case name == "" || name == "." || name == "..":
		return bad("沒有檔名 / no name")
	case len(name) > MaxFileName:
		return bad("太長 / too long")
	case !utf8.ValidString(name):
		return bad("不是有效的文字 / not valid text")
	case strings.ContainsAny(name, `/\:*?"<>|`):
		return bad("含有資料夾或保留字元 / it holds a folder or a reserved character")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") || strings.HasPrefix(name, " "):
		return bad("開頭或結尾是空白或句點 / it starts or ends with a space or ends with a dot")
	}
	for _, r := range name {
		// Format characters (Cf: the right-to-left override that shows
		// "x\u202efdp.exe" as xexe.pdf, zero-width spaces, the byte order
		// mark, the soft hyphen) and line or paragraph separators make a
		// name display as another.
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return bad("含有控制字元或不可見的格式字元 / it holds a control or invisible formatting character")
		}
	}
	base := strings.ToUpper(strings.TrimSpace(strings.TrimSuffix(name, path.Ext(name))))
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if slices.Contains(reserved, base) {
		return bad("是 Windows 保留的裝置名稱 / it is a Windows device name")
	}
	return nil
}
