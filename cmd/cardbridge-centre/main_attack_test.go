package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/testca"
)

// serveFor runs serve with args for at most d and returns its exit code:
// a refused command line returns at once, a server runs until d.
func serveFor(t *testing.T, d time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb, ctx: ctx}
	err := c.serve(args)
	code := 0
	if err != nil {
		code = 1
		errb.WriteString(err.Error())
	}
	return code, errb.String()
}

func rootsFile(t *testing.T, dir string) (string, *testca.Hierarchy) {
	ca, err := testca.New(nil, time.Now())
	require.NoError(t, err)
	var b bytes.Buffer
	for _, c := range []*testca.CA{ca.Root, ca.Issuing} {
		require.NoError(t, pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
	}
	path := filepath.Join(dir, "roots.pem")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path, ca
}

// Operator mistakes at serve. --retention-days 1000000 ("keep them for
// ever") overflowed time.Duration into a negative retention: every
// envelope was dropped at the next hourly purge, undelivered ones too.
// --tls-cert without --tls-key (or the reverse) on a loopback address
// served plain HTTP without a word.
func TestAttackServeOperatorMistakes(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "centre.db")
	roots, _ := rootsFile(t, dir)
	for name, extra := range map[string][]string{
		"a retention that overflows": {"--retention-days", "1000000"},
		"a negative retention":       {"--retention-days", "-1"},
		"no retention":               {"--retention-days", "0"},
		"a certificate, no key":      {"--tls-cert", filepath.Join(dir, "tls.pem")},
		"a key, no certificate":      {"--tls-key", filepath.Join(dir, "tls.key")},
	} {
		start := time.Now()
		code, errOut := serveFor(t, 3*time.Second, append([]string{"--db", db, "--roots", roots, "--listen", "127.0.0.1:0"}, extra...)...)
		assert.Equal(t, 1, code, "%s: served: %s", name, errOut)
		assert.Less(t, time.Since(start), 2*time.Second, "%s: the server ran", name)
	}
}

// Regression: the HTTP server closes idle connections and bounds headers.
func TestAttackHTTPServerLimits(t *testing.T) {
	hs := httpServer(http.NotFoundHandler())
	assert.Positive(t, hs.ReadHeaderTimeout)
	assert.Positive(t, hs.IdleTimeout, "an idle keep-alive connection is held for ever")
	assert.Positive(t, hs.MaxHeaderBytes)
	assert.LessOrEqual(t, hs.MaxHeaderBytes, 64<<10)
}

// Operator mistakes at agency add: a 機關代碼 that is not one (lower case,
// a slash that would make package ids ambiguous), a certificate that names
// no agency (any code was accepted for it, and senders would encrypt to a
// key the agency may not hold), an expired encryption certificate.
func TestAttackAgencyAddMistakes(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "centre.db")
	_, ca := rootsFile(t, dir)
	write := func(name string, org testca.Org, nb, na time.Time) string {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		c, err := ca.Issue(rand.Reader, k.Public(), org, testca.Encryption, nb, na)
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644))
		return path
	}
	now := time.Now()
	good := write("good.pem", testca.Org{Name: "測試幼兒園", UBN: "04595252"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	nameless := write("nameless.pem", testca.Org{Name: "某人"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	expired := write("expired.pem", testca.Org{Name: "測試幼兒園", UBN: "04595252"}, now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))

	for name, args := range map[string][]string{
		"a lower-case code":            {"--code", "xc04595252", "--cert", good},
		"a code with a slash":          {"--code", "XC0459/5252", "--cert", good},
		"a certificate naming no one":  {"--code", "376470000A", "--cert", nameless},
		"an expired encryption cert":   {"--code", "XC04595252", "--cert", expired},
		"another agency's certificate": {"--code", "XC10458570", "--cert", good},
	} {
		code, _, errOut := cmd(t, append([]string{"agency", "add", "--db", db, "--name", "x"}, args...)...)
		assert.NotEqual(t, 0, code, "%s accepted: %s", name, errOut)
	}
	code, _, errOut := cmd(t, "agency", "add", "--db", db, "--name", "測試幼兒園", "--code", "XC04595252", "--cert", good)
	assert.Equal(t, 0, code, errOut)
}
