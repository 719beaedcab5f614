package agent_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cardbridge/cardbridge/internal/exchange/agent"
)

func TestExpiryWarnings(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	cert := func(left time.Duration) *x509.Certificate { return &x509.Certificate{NotAfter: now.Add(left)} }
	day := 24 * time.Hour
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		level string
		days  int
	}{
		{"a year left", []*x509.Certificate{cert(365 * day), cert(365 * day)}, "", 0},
		{"61 days", []*x509.Certificate{cert(61 * day)}, "", 0},
		{"60 days", []*x509.Certificate{cert(60 * day)}, "notice", 60},
		{"the earlier of cert1 and cert2", []*x509.Certificate{cert(300 * day), cert(30 * day)}, "notice", 30},
		{"14 days", []*x509.Certificate{cert(14 * day)}, "urgent", 14},
		{"hours", []*x509.Certificate{cert(3 * time.Hour)}, "urgent", 0},
		{"expired", []*x509.Certificate{cert(-day), cert(200 * day)}, "expired", -1},
		{"no certificate", []*x509.Certificate{nil}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := agent.ExpiryWarnings(now, tc.certs...)
			if tc.level == "" {
				assert.Empty(t, w)
				return
			}
			if assert.Len(t, w, 1) {
				assert.Equal(t, tc.level, w[0].Level)
				assert.Equal(t, tc.days, w[0].DaysLeft)
				assert.Contains(t, w[0].MessageZh, "憑證管理中心")
				assert.Contains(t, w[0].Message, "Renew")
			}
		})
	}
	w := agent.ExpiryWarnings(now, cert(-day))
	assert.Contains(t, w[0].MessageZh, "2027-03-0", "the removal date, three months on")
}
