package agent

import (
	"crypto/x509"
	"fmt"
	"time"
)

// When the agency's card certificates are about to expire, the clerk is
// told well ahead: under the exchange's security rules (公文電子交換系統資訊
// 安全管理規範 §5) an organisation whose IC card expires has its exchange
// service suspended automatically, and one expired for more than three
// months is removed from the address book and must apply again. A renewal
// takes the CA weeks, so the first notice comes 60 days ahead.
const (
	// ExpiryNotice is how far ahead the first notice comes.
	ExpiryNotice = 60 * 24 * time.Hour
	// ExpiryUrgent is when the notice becomes urgent.
	ExpiryUrgent = 14 * 24 * time.Hour
	// RemovedAfter is how long after expiry an agency leaves the directory.
	RemovedAfter = 90 * 24 * time.Hour
)

// Warning is a notice about the agency's own card certificates.
type Warning struct {
	Level     string    `json:"level"` // "notice", "urgent" or "expired"
	NotAfter  time.Time `json:"notAfter"`
	DaysLeft  int       `json:"daysLeft"`
	MessageZh string    `json:"messageZh"`
	Message   string    `json:"message"`
}

// ExpiryWarnings says, for the earliest to expire of the card's
// certificates (cert1 signs, cert2 decrypts: the exchange needs both), how
// soon it expires, or nothing when that is more than ExpiryNotice away.
func ExpiryWarnings(now time.Time, certs ...*x509.Certificate) []Warning {
	var first *x509.Certificate
	for _, c := range certs {
		if c != nil && (first == nil || c.NotAfter.Before(first.NotAfter)) {
			first = c
		}
	}
	if first == nil {
		return nil
	}
	left := first.NotAfter.Sub(now)
	day := first.NotAfter.Local().Format("2006-01-02")
	days := int(left.Hours() / 24)
	switch {
	case left <= 0:
		removed := first.NotAfter.Add(RemovedAfter).Local().Format("2006-01-02")
		return []Warning{{Level: "expired", NotAfter: first.NotAfter, DaysLeft: days,
			MessageZh: fmt.Sprintf("本機關的憑證卡已於 %s 到期，交換中心已停止本機關的公文交換；請立即向憑證管理中心申請換發，%s 前未換發將從通訊錄移除，須重新申請。", day, removed),
			Message:   fmt.Sprintf("The agency's card certificate expired on %s and the centre has suspended its document exchange. Renew the card with the CA now: unless renewed by %s, the agency is removed from the address book and must apply again.", day, removed)}}
	case left <= ExpiryUrgent:
		return []Warning{{Level: "urgent", NotAfter: first.NotAfter, DaysLeft: days,
			MessageZh: fmt.Sprintf("本機關的憑證卡將於 %s 到期（剩 %d 天）；到期當天交換中心會自動停止本機關的公文交換。請立即向憑證管理中心申請換發。", day, days),
			Message:   fmt.Sprintf("The agency's card certificate expires on %s (%d days left); on that day the centre suspends the agency's document exchange. Renew the card with the CA now.", day, days)}}
	case left <= ExpiryNotice:
		return []Warning{{Level: "notice", NotAfter: first.NotAfter, DaysLeft: days,
			MessageZh: fmt.Sprintf("本機關的憑證卡將於 %s 到期（剩 %d 天）；到期後交換中心會停止本機關的公文交換，請儘早向憑證管理中心申請換發。", day, days),
			Message:   fmt.Sprintf("The agency's card certificate expires on %s (%d days left); after that the centre suspends the agency's document exchange. Renew the card with the CA soon.", day, days)}}
	}
	return nil
}
