package diag

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards/cardstest"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// The validity item must name the certificate that expires first: a card
// whose signing certificate expires in 5 days is not "25 days left"
// because its encryption certificate lasts longer.
func TestRunValidityNamesFirstToExpire(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, last int // days from testNow to NotAfter of cert1 and cert2
		want        Result
	}{
		{"both valid", 100, 400, Pass},
		{"both expiring", 5, 25, Warn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := testCert(t, testca.Signature, testNow.AddDate(0, 0, -300), testNow.AddDate(0, 0, tc.first))
			enc := testCert(t, testca.Encryption, testNow.AddDate(0, 0, -300), testNow.AddDate(0, 0, tc.last))
			rep := runOver(t, &cardstest.Backend{Attached: []cardstest.Reader{{Name: "R", Card: &cardstest.Card{Certs: []cardstest.Cert{sig, enc}, Status: card.PINStatus{TriesLeft: 3}, RefuseKeyOps: true}}}}, Options{})
			it := item(t, rep, IDValidity)
			assert.Equal(t, tc.want, it.Result)
			soonest := sig.Cert.NotAfter.Local().Format("2006-01-02")
			assert.True(t, strings.Contains(it.Detail.EN, soonest), "detail %q does not name %s, when cert1 expires", it.Detail.EN, soonest)
		})
	}
}
