// Package diag is CardBridge's environment check: the HiCOS "用戶端環境檢測"
// done better. It walks the chain a clerk's PC needs (smart card service,
// reader, card, PIV application, certificates, validity, PIN, clock) and
// reports each item as pass, warn, fail or skip, each with a Traditional
// Chinese and English explanation and, unless it passed, what to do.
//
// It owns the wording of the check; it does not own the card access: it
// reaches readers and cards through the same internal/cards Manager as the
// host (its per-reader locks, its certificate cache, the virtual reader),
// and it never asks for or sends a PIN: the PIN item uses the empty
// VERIFY, which costs no try.
package diag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// Result is the outcome of one item.
type Result string

// Outcomes, from best to worst; skip means an earlier failure made the
// item impossible to check.
const (
	Pass Result = "pass"
	Warn Result = "warn"
	Fail Result = "fail"
	Skip Result = "skip"
)

// Text is a message in both languages the product speaks.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Item is one line of the check.
type Item struct {
	ID     string `json:"id"`
	Title  Text   `json:"title"`
	Result Result `json:"result"`
	Detail Text   `json:"detail"`
	// Fix says what to do; empty when the item passed.
	Fix Text `json:"fix,omitzero"`
}

// Report is the whole check.
type Report struct {
	Items []Item `json:"items"`
	// Overall is the worst result of the items (skips do not count).
	Overall Result `json:"overall"`
	// Reader is the reader the card items were checked in.
	Reader string `json:"reader,omitempty"`
	// ATR is the card's answer to reset, in hex.
	ATR string `json:"atr,omitempty"`
	// Certificates are the facts of the certificates read.
	Certificates []certinfo.Info `json:"certificates,omitempty"`
	// PINTriesLeft is -1 when the PIN is verified or unknown.
	PINTriesLeft int `json:"pinTriesLeft"`
}

// Options configures Run. The zero value is useful.
type Options struct {
	// Reader restricts the card items to one reader; empty picks the first
	// reader with a card.
	Reader string
	// Now is the time certificates and the clock are checked against; nil
	// means time.Now.
	Now func() time.Time
}

// Item identifiers, stable for scripts and the extension.
const (
	IDService      = "service"
	IDReaders      = "readers"
	IDCard         = "card"
	IDConnect      = "connect"
	IDApplication  = "application"
	IDCertificates = "certificates"
	IDValidity     = "validity"
	IDIssuer       = "issuer"
	IDPIN          = "pin"
	IDClock        = "clock"
)

// titles are the item names in check order.
var titles = []struct {
	id    string
	title Text
}{
	{IDService, Text{"智慧卡服務", "Smart card service"}},
	{IDReaders, Text{"讀卡機", "Card reader"}},
	{IDCard, Text{"IC 卡", "Card in the reader"}},
	{IDConnect, Text{"與卡片連線", "Connection to the card"}},
	{IDApplication, Text{"卡片應用程式", "Card application"}},
	{IDCertificates, Text{"憑證讀取", "Certificates"}},
	{IDValidity, Text{"憑證效期", "Certificate validity"}},
	{IDIssuer, Text{"憑證發證單位", "Certificate authority"}},
	{IDPIN, Text{"PIN 碼狀態", "PIN status"}},
	{IDClock, Text{"電腦時鐘", "Computer clock"}},
}

// Run performs the check with the cards m reaches. It never returns an
// error: every failure is an item of the report.
func Run(ctx context.Context, m *cards.Manager, o Options) Report {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r := &run{rep: Report{PINTriesLeft: -1}, now: now(), opts: o, m: m}
	r.check(ctx)
	return r.finish()
}

type run struct {
	rep  Report
	now  time.Time
	opts Options
	m    *cards.Manager
	res  map[string]Item
	// readOnly holds the certificates of a card read natively but not
	// usable here (a HiCOS card), to look for a module's view of it.
	readOnly []card.Certificate
}

func (r *run) set(id string, res Result, detail, fix Text) {
	if r.res == nil {
		r.res = map[string]Item{}
	}
	r.res[id] = Item{ID: id, Result: res, Detail: detail, Fix: fix}
}

func (r *run) finish() Report {
	overall := Pass
	rank := map[Result]int{Pass: 0, Skip: 0, Warn: 1, Fail: 2}
	for _, t := range titles {
		it, ok := r.res[t.id]
		if !ok {
			it = Item{ID: t.id, Result: Skip,
				Detail: Text{"因前一項未通過，無法檢查。", "Not checked because an earlier item failed."},
				Fix:    Text{"請先處理上方未通過的項目。", "Fix the failed item above first."}}
		}
		it.Title = t.title
		if rank[it.Result] > rank[overall] {
			overall = it.Result
		}
		r.rep.Items = append(r.rep.Items, it)
	}
	r.rep.Overall = overall
	return r.rep
}

func (r *run) check(ctx context.Context) {
	r.checkClock()
	states, err := r.m.Readers(ctx)
	if errors.Is(err, pcsc.ErrNoService) {
		r.set(IDService, Fail, Text{"智慧卡服務沒有執行。", "The smart card service is not running."},
			Text{"Windows：請重新開機；若仍失敗，請在「服務」中啟動「Smart Card」並設為自動。Linux：請執行 sudo systemctl start pcscd。",
				"Windows: restart the computer; if that does not help, start the \"Smart Card\" service in Services and set it to Automatic. Linux: run sudo systemctl start pcscd."})
		return
	}
	r.set(IDService, Pass, Text{"智慧卡服務正常執行中。", "The smart card service is running."}, Text{})
	if err != nil {
		r.set(IDReaders, Fail, Text{"無法讀取讀卡機狀態。", "Could not read the readers' state."},
			Text{"請拔下讀卡機再插回，然後再檢查一次。", "Unplug the reader, plug it back in and check again."})
		return
	}
	if len(states) == 0 {
		r.set(IDReaders, Fail, Text{"找不到讀卡機。", "No card reader was found."},
			Text{"請將讀卡機插上電腦的 USB 孔（建議直接插在主機，不要經過集線器），等候 10 秒後再檢查一次。若仍找不到，請安裝讀卡機廠商的驅動程式。",
				"Plug the card reader into a USB port (directly on the computer, not through a hub), wait 10 seconds and check again. If it is still missing, install the reader maker's driver."})
		return
	}
	readers := make([]string, len(states))
	for i, s := range states {
		readers[i] = s.Reader
	}
	r.set(IDReaders, Pass, Text{fmt.Sprintf("找到 %d 台讀卡機：%s", len(readers), strings.Join(readers, ", ")), fmt.Sprintf("%d reader(s) found: %s", len(readers), strings.Join(readers, ", "))}, Text{})

	var chosen *pcsc.ReaderState
	withCard := 0
	for i, s := range states {
		if s.Present() {
			withCard++
		}
		if chosen == nil && s.Present() && (r.opts.Reader == "" || r.opts.Reader == s.Reader) {
			chosen = &states[i]
		}
	}
	if chosen == nil {
		r.set(IDCard, Fail, Text{"讀卡機中沒有 IC 卡。", "There is no card in the reader."},
			Text{"請將憑證 IC 卡晶片朝上、朝讀卡機方向插到底，再檢查一次。", "Insert the certificate card fully, chip side up and facing the reader, then check again."})
		return
	}
	r.rep.Reader = chosen.Reader
	r.rep.ATR = fmt.Sprintf("%X", chosen.ATR)
	if chosen.Mute() {
		r.set(IDCard, Fail, Text{"卡片沒有回應，可能插反或晶片髒污。", "The card does not respond; it may be inserted the wrong way or its chip may be dirty."},
			Text{"請取出卡片，確認晶片朝上後重新插入；必要時以乾布輕擦晶片。", "Take the card out, check that the chip faces up and insert it again; wipe the chip gently with a dry cloth if needed."})
		return
	}
	if withCard > 1 && r.opts.Reader == "" { // a named reader is a choice already made
		r.set(IDCard, Warn, Text{fmt.Sprintf("有 %d 台讀卡機插著卡片，將使用「%s」。", withCard, chosen.Reader), fmt.Sprintf("%d readers hold a card; using %q.", withCard, chosen.Reader)},
			Text{"若要使用另一張卡，請先取出不用的卡片。", "To use another card, take out the cards you do not need."})
	} else {
		r.set(IDCard, Pass, Text{"已偵測到 IC 卡。", "A card is in the reader."}, Text{})
	}

	connected := false
	err = r.m.WithCard(ctx, cards.Ref{Reader: chosen.Reader}, func(_ string, t cards.Token) error {
		connected = true
		r.set(IDConnect, Pass, Text{"已與卡片連線。", "Connected to the card."}, Text{})
		r.checkCard(t)
		return nil
	})
	if !connected {
		r.connectFailed(err)
		return
	}
	if r.readOnly != nil {
		r.checkHiCOS(ctx)
	}
}

// checkHiCOS finishes the check of a HiCOS card read natively: through the
// vendor's module when it reaches the same card (its PIN state), and
// otherwise with what is missing.
func (r *run) checkHiCOS(ctx context.Context) {
	for _, k := range r.readOnly {
		done := false
		err := r.m.WithCertificate(ctx, k.ID, func(t cards.Token, c cards.Certificate) error {
			if c.ReadOnly {
				return nil
			}
			done = true
			r.set(IDApplication, Pass, Text{"中華電信 HiCOS 卡，經由 HiCOS 用戶端程式使用。", "A Chunghwa Telecom HiCOS card, used through the HiCOS client."}, Text{})
			r.checkPIN(t)
			return nil
		})
		if done || errors.Is(err, pcsc.ErrCardRemoved) {
			return
		}
	}
	r.set(IDApplication, Fail, Text{"找到中華電信 HiCOS 卡（自然人憑證、工商憑證、組織及團體憑證或政府憑證），已讀出憑證；但這台電腦沒有安裝 HiCOS 用戶端程式，無法簽章、解密或變更 PIN 碼。",
		"HiCOS card found (MOICA, MOEACA, XCA or GCA) and its certificates read; but the HiCOS client is not installed on this computer, so the card cannot sign, decrypt or change its PIN."},
		Text{"要簽章，請從 moica.nat.gov.tw 下載安裝「HiCOS PKI Smart Card 用戶端程式」（https://moica.nat.gov.tw/download_1.html），重新插卡後再檢查一次。",
			"HiCOS card found; to sign, install the HiCOS client from moica.nat.gov.tw (https://moica.nat.gov.tw/download_1.html), reinsert the card and check again."})
	r.set(IDPIN, Skip, Text{"PIN 碼狀態要經由 HiCOS 用戶端程式才能讀取。", "The PIN status can be read only through the HiCOS client."},
		Text{"安裝 HiCOS 用戶端程式後再檢查一次。", "Install the HiCOS client and check again."})
}

func (r *run) connectFailed(err error) {
	switch {
	case errors.Is(err, pcsc.ErrSharingViolation):
		r.set(IDConnect, Fail, Text{"卡片正被其他程式獨占使用。", "Another program is holding the card exclusively."},
			Text{"請關閉其他讀卡程式（例如舊版 HiCOS 卡片管理工具、報稅軟體）後再檢查一次。", "Close other card programs (such as the old HiCOS card tool or tax filing software) and check again."})
	case errors.Is(err, pcsc.ErrCardRemoved), errors.Is(err, pcsc.ErrNoCard):
		r.set(IDConnect, Fail, Text{"檢查途中卡片被取出。", "The card was removed during the check."},
			Text{"請插入卡片，檢查完成前不要取出。", "Insert the card and leave it in until the check has finished."})
	default:
		r.set(IDConnect, Fail, Text{"無法與卡片連線。", "Could not connect to the card."},
			Text{"請取出卡片重新插入；若仍失敗，請換一台讀卡機試試。", "Take the card out and insert it again; if it still fails, try another reader."})
	}
}

func (r *run) checkCard(piv cards.Token) {
	certs, err := piv.Certificates()
	switch {
	case errors.Is(err, card.ErrNotPIV):
		r.set(IDApplication, Fail, Text{"這張卡不是 CardBridge 能直接使用的憑證卡（沒有 PIV 應用程式）。", "This card is not a certificate card CardBridge can use directly (no PIV application)."},
			Text{"請確認插入的是憑證 IC 卡（不是健保卡或金融卡）。", "Check that the inserted card is a certificate card (not a health insurance or bank card)."})
		return
	case errors.Is(err, pcsc.ErrCardRemoved):
		r.connectFailed(err)
		return
	case err != nil:
		r.set(IDApplication, Pass, Text{"卡片應用程式可使用。", "The card application answers."}, Text{})
		r.set(IDCertificates, Fail, Text{"無法讀取卡片上的憑證。", "The certificates on the card could not be read."},
			Text{"請取出卡片重新插入後再檢查一次；若仍失敗，卡片可能損壞，請洽發卡單位。", "Take the card out, insert it again and check again; if it still fails, the card may be damaged: contact the card issuer."})
		return
	}
	r.set(IDApplication, Pass, Text{"卡片應用程式可使用。", "The card application answers."}, Text{})
	r.checkCertificates(certs)
	if len(certs) > 0 && certs[0].ReadOnly {
		r.readOnly = certs // finished by checkHiCOS, outside this card's lock
		return
	}
	r.checkPIN(piv)
}

func (r *run) checkCertificates(certs []card.Certificate) {
	var sig, enc bool
	var infos []certinfo.Info
	for _, c := range certs {
		info := certinfo.Describe(c.Cert, r.now)
		infos = append(infos, info)
		switch info.Usage {
		case certinfo.UsageSignature:
			sig = true
		case certinfo.UsageEncryption:
			enc = true
		case certinfo.UsageSignatureEncryption:
			sig, enc = true, true
		}
	}
	r.rep.Certificates = infos
	switch {
	case len(certs) == 0:
		r.set(IDCertificates, Fail, Text{"卡片上沒有憑證。", "There is no certificate on the card."},
			Text{"這張卡可能尚未完成製卡，請洽發卡單位。", "The card may not have been fully issued; contact the card issuer."})
		return
	case !sig:
		r.set(IDCertificates, Fail, Text{"卡片上沒有簽章用憑證。", "The card has no signing certificate."},
			Text{"無法登入或簽章；請洽發卡單位。", "Signing in and signing will not work; contact the card issuer."})
	case !enc:
		r.set(IDCertificates, Warn, Text{"卡片上沒有加密用憑證，無法接收加密公文。", "The card has no encryption certificate; encrypted documents cannot be received."},
			Text{"若需收受公文，請洽發卡單位。", "If you need to receive official documents, contact the card issuer."})
	default:
		r.set(IDCertificates, Pass, Text{fmt.Sprintf("讀到 %d 張憑證（簽章用與加密用）。", len(certs)), fmt.Sprintf("%d certificates read (signing and encryption).", len(certs))}, Text{})
	}
	r.checkValidity(infos)
	r.checkIssuer(infos)
}

func (r *run) checkValidity(infos []certinfo.Info) {
	worst := certinfo.StatusValid
	var which certinfo.Info
	rank := map[certinfo.Status]int{certinfo.StatusValid: 0, certinfo.StatusExpiring: 1, certinfo.StatusNotYetValid: 2, certinfo.StatusExpired: 3}
	// The worst status wins; among equals, the certificate that ends
	// first, whose date is the one the clerk must act on.
	for i, in := range infos {
		if i == 0 || rank[in.Status] > rank[worst] || (rank[in.Status] == rank[worst] && in.NotAfter.Before(which.NotAfter)) {
			worst, which = in.Status, in
		}
	}
	end := which.NotAfter.Local().Format("2006-01-02")
	switch worst {
	case certinfo.StatusExpired:
		r.set(IDValidity, Fail, Text{"憑證已於 " + end + " 到期。", "The certificate expired on " + end + "."},
			Text{"請向發卡單位申請憑證展期或換發；換發後若有使用公文交換，須重新註冊憑證。", "Apply to the card issuer for renewal; after renewal, register the new certificate again with the document exchange service if you use it."})
	case certinfo.StatusNotYetValid:
		r.set(IDValidity, Fail, Text{"憑證尚未生效（生效日 " + which.NotBefore.Local().Format("2006-01-02") + "）。", "The certificate is not valid yet (from " + which.NotBefore.Local().Format("2006-01-02") + ")."},
			Text{"請確認電腦的日期是否正確；若正確，請等到生效日再使用。", "Check that the computer's date is right; if it is, wait until the certificate becomes valid."})
	case certinfo.StatusExpiring:
		r.set(IDValidity, Warn, Text{fmt.Sprintf("憑證將於 %s 到期（剩 %d 天）。", end, which.DaysLeft), fmt.Sprintf("The certificate expires on %s (%d days left).", end, which.DaysLeft)},
			Text{"請儘快向發卡單位申請展期，以免公文交換中斷。", "Apply for renewal soon so that document exchange is not interrupted."})
	default:
		r.set(IDValidity, Pass, Text{fmt.Sprintf("憑證有效，到期日 %s（剩 %d 天）。", end, which.DaysLeft), fmt.Sprintf("Certificates valid until %s (%d days left).", end, which.DaysLeft)}, Text{})
	}
}

func (r *run) checkIssuer(infos []certinfo.Info) {
	if len(infos) == 0 {
		return
	}
	in := infos[0]
	switch {
	case in.Test:
		r.set(IDIssuer, Warn, Text{"這是測試用卡片（" + in.CAName + "），不能用於正式業務。", "This is a TEST card (" + in.CAName + "); it cannot be used for real business."},
			Text{"正式作業請改插發卡單位核發的憑證卡。", "For real work, insert the card your certificate authority issued."})
	case in.CA == certinfo.CAUnknown:
		r.set(IDIssuer, Warn, Text{"發證單位不是常見的政府憑證管理中心：" + in.CAName, "The issuer is not a known Taiwan government CA: " + in.CAName},
			Text{"政府網站可能不接受這張卡，請確認是否插錯卡片。", "Government sites may not accept this card; check that it is the right card."})
	default:
		r.set(IDIssuer, Pass, Text{"發證單位：" + in.CANameZH, "Issued by: " + in.CANameEN}, Text{})
	}
}

func (r *run) checkPIN(piv cards.Token) {
	st, err := piv.PINStatus()
	switch {
	case err != nil:
		r.set(IDPIN, Warn, Text{"無法讀取 PIN 碼狀態。", "The PIN status could not be read."},
			Text{"請取出卡片重新插入後再檢查一次。", "Take the card out, insert it again and check again."})
	case st.Blocked:
		r.rep.PINTriesLeft = 0
		r.set(IDPIN, Fail, Text{"PIN 碼已鎖住（或新卡尚未開卡）。", "The PIN is blocked (or this new card has not been activated yet)."},
			Text{"新卡請用卡片密碼函上的 PUK 開卡；已使用過的卡請用 PUK 解鎖並設定新 PIN 碼（cardbridge pin unblock）。沒有 PUK 請洽發卡單位。",
				"For a new card, activate it with the PUK from the card's PIN letter; for a card in use, unblock it with the PUK and set a new PIN (cardbridge pin unblock). Without a PUK, contact the card issuer."})
	case st.Verified:
		r.set(IDPIN, Pass, Text{"PIN 碼已驗證。", "The PIN is verified."}, Text{})
	case st.TriesLeft == 1:
		r.rep.PINTriesLeft = 1
		r.set(IDPIN, Warn, Text{"PIN 碼只剩 1 次機會，再輸錯一次就會鎖卡。", "Only 1 PIN try left; one more wrong PIN blocks the card."},
			Text{"下次輸入前請確認 PIN 碼；不確定時請先洽發卡單位，不要猜。", "Make sure of the PIN before the next try; if unsure, contact the card issuer instead of guessing."})
	default:
		r.rep.PINTriesLeft = st.TriesLeft
		r.set(IDPIN, Pass, Text{fmt.Sprintf("PIN 碼可使用（剩 %d 次嘗試機會）。", st.TriesLeft), fmt.Sprintf("The PIN is usable (%d tries left).", st.TriesLeft)}, Text{})
	}
}

// earliestSaneTime is a date no correctly set clock is before: CardBridge did
// not exist then, so an earlier clock is a dead CMOS battery or a reset BIOS.
var earliestSaneTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (r *run) checkClock() {
	if r.now.Before(earliestSaneTime) {
		d := r.now.Format("2006-01-02")
		r.set(IDClock, Fail, Text{"電腦日期是 " + d + "，顯然不正確，憑證會被判定為無效。", "The computer's date is " + d + ", which is wrong; certificates will be judged invalid."},
			Text{"請在 Windows「日期和時間」設定中開啟「自動設定時間」；若每次開機都跑掉，請更換主機板電池。", "Turn on \"Set time automatically\" in Windows Date & time settings; if the date is lost at every start, have the motherboard battery replaced."})
		return
	}
	r.set(IDClock, Pass, Text{"電腦日期：" + r.now.Format("2006-01-02"), "Computer date: " + r.now.Format("2006-01-02")}, Text{})
}
