package authtoken

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	fx := fixture(f)
	for _, tok := range []*Token{
		makeToken(f, fx.rsaKey, fx.rsaCert, PS256, siteOrigin, testChallenge),
		makeToken(f, fx.rsaKey, fx.rsaCert, RS256, siteOrigin, testChallenge), // refused: ErrAlgorithm
		makeToken(f, fx.ecKey, fx.ecCert, ES256, siteOrigin, testChallenge),
		makeToken(f, fx.ecKey, fx.ecCert, ES256, evilOrigin, testChallenge),
		makeToken(f, fx.ecKey, fx.expiredCert, ES256, siteOrigin, testChallenge),
		makeToken(f, fx.rsaKey, fx.encCert, PS256, siteOrigin, testChallenge),
	} {
		b, err := json.Marshal(tok)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{goodJSON, "", "{}", "null", `{"format":1}`, goodJSON + goodJSON,
		`{"format":"cardbridge:1","format":"cardbridge:1"}`, `{"appVersion":"\ud800"}`} {
		f.Add([]byte(s))
	}
	v := verifier(fx.h)
	f.Fuzz(func(t *testing.T, in []byte) {
		tok, err := Parse(in)
		if err != nil {
			if !checkErr(err, ErrMalformed) || tok != nil {
				t.Fatalf("Parse(%q) = %v, %v, want nil and an error wrapping only ErrMalformed", in, tok, err)
			}
			return
		}
		if tok.Format == "" || tok.Certificate == "" || tok.Algorithm == "" || tok.Signature == "" {
			t.Fatalf("Parse(%q) = %+v, nil with a required field empty", in, tok)
		}
		// What Parse accepted survives encoding/json, as the host writes it.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(tok); err != nil {
			t.Fatal(err)
		}
		if buf.Len() <= MaxTokenSize { // re-encoding may grow escaped text
			if again, err := Parse(buf.Bytes()); err != nil || *again != *tok {
				t.Fatalf("Parse(%s) = %+v, %v, want %+v (from Parse(%q))", buf.Bytes(), again, err, tok, in)
			}
		}
		cert, err := v.Verify(tok, testChallenge)
		if err != nil {
			if cert != nil || !checkErr(err, firstSentinel(err)) {
				t.Fatalf("Verify(Parse(%q)) = %v, %v, want nil and an error wrapping one sentinel", in, cert, err)
			}
			return
		}
		if !cert.Equal(fx.rsaCert) && !cert.Equal(fx.ecCert) {
			t.Fatalf("Verify(Parse(%q)) accepted certificate %v", in, cert.Subject)
		}
	})
}

// firstSentinel returns the first sentinel err wraps, or nil.
func firstSentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// FuzzVerifyCertificate feeds Verify arbitrary certificate bytes, under a
// Verifier with every option set and one with none, and the identity
// helpers whatever x509 parses. Nothing may panic, every failure wraps
// exactly one sentinel, and no token verifies: its signature is not the
// certificate key's.
func FuzzVerifyCertificate(f *testing.F) {
	fx := fixture(f)
	for _, c := range []*x509.Certificate{fx.rsaCert, fx.ecCert, fx.encCert, fx.expiredCert, fx.futureCert,
		fx.otherCert, fx.oldCert, fx.p384Cert, fx.caCert, fx.noKUCert, fx.crossCA, fx.h.Issuing.Cert, fx.h.Root.Cert} {
		f.Add(c.Raw)
		f.Add(c.Raw[:len(c.Raw)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	plain := verifier(fx.h)
	strict := verifier(fx.h)
	strict.RequiredPolicies = []x509.OID{gpkiLevel3, anyPolicy}
	strict.AllowedIssuers = []*x509.Certificate{fx.h.Issuing.Cert, nil}
	sig := base64.StdEncoding.EncodeToString(make([]byte, 256))
	f.Fuzz(func(t *testing.T, der []byte) {
		if len(der) > MaxCertificateSize {
			return
		}
		alg := ES256
		if c, err := x509.ParseCertificate(der); err == nil {
			if a, err := Algorithm(c.PublicKey); err == nil {
				alg = a // get past the algorithm check to the certificate's
			}
			id := Identity(c)
			if c.SerialNumber != nil && !strings.HasSuffix(id, "|"+c.SerialNumber.Text(16)) {
				t.Fatalf("Identity() = %q does not end in the serial %x", id, c.SerialNumber)
			}
			if fp := Fingerprint(c); len(fp) != 64 {
				t.Fatalf("Fingerprint() = %q", fp)
			}
		}
		tok := &Token{Format: Format, Certificate: base64.StdEncoding.EncodeToString(der), Algorithm: alg, Signature: sig}
		for _, v := range []*Verifier{plain, strict} {
			cert, err := v.Verify(tok, testChallenge)
			if err == nil || cert != nil || !checkErr(err, firstSentinel(err)) {
				t.Fatalf("Verify(certificate %x) = %v, %v, want nil and an error wrapping one sentinel", der, cert, err)
			}
		}
	})
}

// FuzzClientFromAddr checks that ClientFromAddr turns every IP address,
// with or without a port, into an IPv4 address or an IPv6 /64 prefix, is
// idempotent, and leaves anything else alone.
func FuzzClientFromAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1:1234", "[2001:db8::1]:443", "2001:db8::1", "::ffff:10.0.0.1",
		"[fe80::1%eth0]:80", "", "localhost:80", "1.2.3.4:99999", "[::]:0", "01.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := ClientFromAddr(in)
		if again := ClientFromAddr(got); again != got {
			t.Fatalf("ClientFromAddr(%q) = %q, but ClientFromAddr(%q) = %q", in, got, got, again)
		}
		_, errA := netip.ParseAddr(in)
		_, errP := netip.ParseAddrPort(in)
		if errA != nil && errP != nil {
			if got != in {
				t.Fatalf("ClientFromAddr(%q) = %q, want it unchanged", in, got)
			}
			return
		}
		if ip, err := netip.ParseAddr(got); err == nil {
			if !ip.Is4() {
				t.Fatalf("ClientFromAddr(%q) = %q, an address that is not IPv4", in, got)
			}
			return
		}
		if p, err := netip.ParsePrefix(got); err != nil || p.Bits() != 64 || !p.Addr().Is6() || p.Masked() != p {
			t.Fatalf("ClientFromAddr(%q) = %q, neither IPv4 nor an IPv6 /64", in, got)
		}
	})
}

// FuzzChallenges runs a Challenges store through sequences of Issue,
// Consume and clock steps read from the input, on small limits, and
// checks its bookkeeping after each step, that Issue never fails, that
// no challenge is accepted twice, and that a client's newest challenge,
// consumed within its TTL, is accepted.
func FuzzChallenges(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x41, 0x41, 0x41, 0x42, 0x43, 0xfe, 0xff})
	f.Add(bytes.Repeat([]byte{0x10, 0x51, 0x92, 0xd3}, 40))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4096 {
			return
		}
		c, clk := newTestChallenges(time.Minute)
		c.Limit, c.PerClient = 7, 3
		var issued []string
		accepted := map[string]bool{}
		for _, op := range ops {
			arg := int(op >> 2)
			switch op & 3 {
			case 0, 1: // Issue for one of 16 clients, then maybe consume it at once
				s, err := c.Issue(fmt.Sprintf("client %d", arg%16))
				if err != nil || s == "" {
					t.Fatalf("Issue() = %q, %v", s, err)
				}
				issued = append(issued, s)
				if op&1 == 1 {
					if err := c.Consume(s); err != nil {
						t.Fatalf("Consume(newest challenge) error = %v", err)
					}
					accepted[s] = true
				}
			case 2: // Consume an earlier challenge
				if len(issued) == 0 {
					continue
				}
				s := issued[arg%len(issued)]
				err := c.Consume(s)
				if err == nil {
					if accepted[s] {
						t.Fatalf("Consume(%q) accepted twice", s)
					}
					accepted[s] = true
				} else if !checkErr(err, ErrChallenge) && !checkErr(err, ErrReplay) {
					t.Fatalf("Consume() error = %v", err)
				}
			case 3: // let time pass
				clk.Advance(time.Duration(arg) * time.Second)
			}
			checkInvariants(t, c)
		}
	})
}
