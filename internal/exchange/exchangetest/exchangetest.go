// Package exchangetest gives the exchange's tests TEST agencies with
// software keys in place of cards: a TEST CA's signature (cert1) and
// encryption (cert2) certificates for an organisation, the login token and
// the crypto.Signer and crypto.Decrypter a card session would give
// (internal/exchange/agent.Card), and the trust the agents check against.
// Tests only; nothing shipped imports it.
package exchangetest

import (
	"crypto/ed25519"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"

	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the test centre's store

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/store"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// Agency is a TEST organisation and its keys.
type Agency struct {
	Code            string // XC + 統一編號
	Sign, Enc       *x509.Certificate
	SignKey, EncKey *rsa.PrivateKey
}

// NewAgency issues cert1 and cert2 for the organisation name with 統一編號
// ubn from ca, valid from notBefore to notAfter.
func NewAgency(tb testing.TB, ca *testca.Hierarchy, name, ubn string, notBefore, notAfter time.Time) *Agency {
	tb.Helper()
	a := &Agency{Code: "XC" + ubn}
	var err error
	if a.SignKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		tb.Fatal(err)
	}
	if a.EncKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		tb.Fatal(err)
	}
	org := testca.Org{Name: name, UBN: ubn, CardSerial: "TEST000000000001"}
	if a.Sign, err = ca.Issue(rand.Reader, a.SignKey.Public(), org, testca.Signature, notBefore, notAfter); err != nil {
		tb.Fatal(err)
	}
	if a.Enc, err = ca.Issue(rand.Reader, a.EncKey.Public(), org, testca.Encryption, notBefore, notAfter); err != nil {
		tb.Fatal(err)
	}
	return a
}

// Valid is NewAgency valid from an hour ago for a year.
func Valid(tb testing.TB, ca *testca.Hierarchy, name, ubn string) *Agency {
	tb.Helper()
	return NewAgency(tb, ca, name, ubn, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
}

// Token signs a login challenge for origin as a card does
// (cards.Manager.Authenticate): PS256 over authtoken.SignedDigest.
func (a *Agency) Token(_ context.Context, origin, challenge string) (authtoken.Token, error) {
	d := authtoken.SignedDigest(origin, challenge)
	sig, err := rsa.SignPSS(rand.Reader, a.SignKey, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	return authtoken.Token{Format: authtoken.Format, Certificate: base64.StdEncoding.EncodeToString(a.Sign.Raw), Algorithm: "PS256",
		Signature: base64.StdEncoding.EncodeToString(sig)}, err
}

// Signer is cert1 and its key.
func (a *Agency) Signer() (*x509.Certificate, crypto.Signer) { return a.Sign, a.SignKey }

// Decrypter is cert2 and its key.
func (a *Agency) Decrypter() (*x509.Certificate, crypto.Decrypter) { return a.Enc, a.EncKey }

// Trust is what agencies of ca check each other against.
func Trust(ca *testca.Hierarchy) parcel.Trust {
	t := parcel.TrustOf([]*x509.Certificate{ca.Root.Cert, ca.Issuing.Cert})
	t.Now = time.Now()
	return t
}

// RootsPEM is ca's root and issuing CA, as a centre's --roots file.
func RootsPEM(ca *testca.Hierarchy) []byte {
	var b bytes.Buffer
	for _, c := range []*testca.CA{ca.Root, ca.Issuing} {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
	}
	return b.Bytes()
}

// Centre is a centre served in-process over SQLite for tests: its URL (the
// origin agents log in to), its store, and a switch that makes it answer
// 503 as if it were down.
type Centre struct {
	URL   string
	Store *store.Store
	Down  atomic.Bool
	// Fail, when set, answers 503 to the requests it returns true for (a
	// centre that goes away between two steps).
	Fail atomic.Pointer[func(*http.Request) bool]
}

// StartCentre serves a centre trusting ca, with the agencies' encryption
// certificates (機關代碼 → DER) in its directory; it stops with the test.
func StartCentre(tb testing.TB, ca *testca.Hierarchy, agencies map[string][]byte) *Centre {
	tb.Helper()
	db, err := sql.Open("sqlite", store.SQLiteDSN(filepath.Join(tb.TempDir(), "centre.db")))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := store.Open(context.Background(), db, store.SQLite, key)
	if err != nil {
		tb.Fatal(err)
	}
	for code, der := range agencies {
		if err := st.AddAgency(context.Background(), store.Agency{Code: code, Name: code, EncCert: der}); err != nil {
			tb.Fatal(err)
		}
	}
	t := Trust(ca)
	c := &Centre{Store: st}
	srv := &api.Server{Store: st, Verifier: &authtoken.Verifier{Roots: t.Roots, Intermediates: t.Intermediates}}
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := c.Fail.Load(); c.Down.Load() || (f != nil && (*f)(r)) {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(ts.Close)
	srv.Verifier.Origin = ts.URL
	c.URL = ts.URL
	return c
}
