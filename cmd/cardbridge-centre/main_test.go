package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/api"
	"github.com/cardbridge/cardbridge/internal/centre/pgtest"
	"github.com/cardbridge/cardbridge/internal/nativeclient"
	"github.com/cardbridge/cardbridge/internal/testca"
)

func cmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(withKey(args), &out, &errb)
	return code, out.String(), errb.String()
}

// The commands' test runs on SQLite, and with CARDBRIDGE_CENTRE_DB=postgres
// (make unit runs it so a second time) on a throwaway PostgreSQL server,
// where the evidence key is a file given with --key.
var pg struct {
	srv *pgtest.Server
	err error
	key string
}

func TestMain(m *testing.M) {
	if os.Getenv("CARDBRIDGE_CENTRE_DB") == "postgres" {
		pg.srv, pg.err = pgtest.Start()
		if dir, err := os.MkdirTemp("", "centre-key-"); err == nil {
			pg.key = filepath.Join(dir, "evidence-key.pem")
			defer os.RemoveAll(dir)
		}
	}
	code := m.Run()
	if pg.srv != nil {
		pg.srv.Stop()
	}
	os.Exit(code)
}

// testDB is the --db of a fresh database for the suite.
func testDB(t *testing.T) string {
	t.Helper()
	if os.Getenv("CARDBRIDGE_CENTRE_DB") != "postgres" {
		return "sqlite:" + filepath.Join(t.TempDir(), "centre.db")
	}
	require.NoError(t, pg.err, "PostgreSQL for the centre's commands")
	dsn, err := pg.srv.NewDatabase(context.Background())
	require.NoError(t, err)
	return dsn
}

// withKey adds --key after --db on PostgreSQL.
func withKey(args []string) []string {
	if pg.key == "" {
		return args
	}
	for i, a := range args {
		if a == "--db" && i+1 < len(args) && strings.HasPrefix(args[i+1], "postgres") {
			return append(append(append([]string{}, args[:i+2]...), "--key", pg.key), args[i+2:]...)
		}
	}
	return args
}

// The operator's commands and the server, end to end: a directory from the
// certificates an agency's card prints, a card login over HTTP, a package
// accepted, its evidence exported and verified offline (and a tampered
// bundle refused).
func TestCentreCommands(t *testing.T) {
	dir := t.TempDir()
	db := testDB(t)
	ca, err := testca.New(nil, time.Now())
	require.NoError(t, err)
	var rootsPEM bytes.Buffer
	for _, c := range []*testca.CA{ca.Root, ca.Issuing} {
		require.NoError(t, pem.Encode(&rootsPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
	}
	roots := filepath.Join(dir, "roots.pem")
	require.NoError(t, os.WriteFile(roots, rootsPEM.Bytes(), 0o644))

	// The agency's two certificates, as `cardbridge certs --pem` prints them.
	signKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	encKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	org := testca.Org{Name: "測試幼兒園", UBN: "04595252"}
	sign, err := ca.Issue(rand.Reader, signKey.Public(), org, testca.Signature, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	enc, err := ca.Issue(rand.Reader, encKey.Public(), org, testca.Encryption, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	require.NoError(t, err)
	var certsPEM bytes.Buffer
	for _, c := range [][]byte{sign.Raw, enc.Raw} {
		require.NoError(t, pem.Encode(&certsPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c}))
	}
	certs := filepath.Join(dir, "certs.pem")
	require.NoError(t, os.WriteFile(certs, certsPEM.Bytes(), 0o644))

	code, _, errOut := cmd(t, "agency", "add", "--db", db, "--code", "XC04595252", "--name", "測試幼兒園", "--cert", certs)
	require.Equal(t, 0, code, errOut)
	code, _, errOut = cmd(t, "agency", "add", "--db", db, "--code", "XC10458570", "--name", "冒名", "--cert", certs)
	assert.Equal(t, 1, code, "another agency's certificate refused")
	assert.Contains(t, errOut, "XC04595252")
	code, out, _ := cmd(t, "agency", "list", "--db", db, "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"code": "XC04595252"`)
	code, _, _ = cmd(t, "announce", "--db", db, "--text", "12月31日系統維護")
	require.Equal(t, 0, code)
	code, _, errOut = cmd(t, "serve", "--db", db, "--roots", roots, "--listen", "0.0.0.0:0")
	assert.Equal(t, 2, code, "plain HTTP off loopback")
	assert.Contains(t, errOut, "loopback")

	// Serve.
	ctx, cancel := context.WithCancel(context.Background())
	var sout, serr nativeclient.SyncBuffer
	done := make(chan int)
	go func() {
		c := &cli{stdout: &sout, stderr: &serr, ctx: ctx}
		err := c.serve(withKey([]string{"--db", db, "--roots", roots, "--listen", "127.0.0.1:0"}))
		if err != nil {
			serr.Write([]byte(err.Error()))
			done <- 1
			return
		}
		done <- 0
	}()
	var origin string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`origin (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(sout.String())
		if m != nil {
			origin = m[1]
		}
		return origin != ""
	}, 10*time.Second, 20*time.Millisecond, serr.String())

	resp, err := http.Post(origin+"/v1/login/challenge", "application/json", nil)
	require.NoError(t, err)
	var ch struct{ Challenge string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ch))
	resp.Body.Close()
	d := authtoken.SignedDigest(origin, ch.Challenge)
	sig, err := rsa.SignPSS(rand.Reader, signKey, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	require.NoError(t, err)
	body, _ := json.Marshal(api.LoginRequest{Challenge: ch.Challenge, Token: authtoken.Token{Format: authtoken.Format,
		Certificate: base64.StdEncoding.EncodeToString(sign.Raw), Algorithm: "PS256", Signature: base64.StdEncoding.EncodeToString(sig)}})
	resp, err = http.Post(origin+"/v1/login", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	var login struct{ Session, Agency string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&login))
	resp.Body.Close()
	require.Equal(t, "XC04595252", login.Agency, serr.String())

	req, _ := http.NewRequest("POST", origin+"/v1/packages", strings.NewReader("sealed envelope"))
	req.Header.Set("Authorization", "Bearer "+login.Session)
	req.Header.Set("X-Send-Id", "note-to-self")
	req.Header.Set("X-Recipients", "XC04595252")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	resp.Body.Close()
	cancel()
	require.Equal(t, 0, <-done, serr.String())

	// Evidence, exported and verified offline with the centre's key.
	bundle := filepath.Join(dir, "evidence.json")
	code, _, errOut = cmd(t, "evidence", "export", "--db", db, "--out", bundle, "XC04595252/note-to-self")
	require.Equal(t, 0, code, errOut)
	code, keyPEM, _ := cmd(t, "evidence", "key", "--db", db)
	require.Equal(t, 0, code)
	keyFile := filepath.Join(dir, "centre.pub.pem")
	require.NoError(t, os.WriteFile(keyFile, []byte(keyPEM), 0o644))
	code, out, errOut = cmd(t, "evidence", "verify", "--key", keyFile, bundle)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "evidence verifies")
	b, _ := os.ReadFile(bundle)
	tampered := filepath.Join(dir, "tampered.json")
	require.NoError(t, os.WriteFile(tampered, bytes.Replace(b, []byte("package-accepted"), []byte("package-rejected"), 1), 0o644))
	code, _, errOut = cmd(t, "evidence", "verify", "--key", keyFile, tampered)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "does not verify")
}
