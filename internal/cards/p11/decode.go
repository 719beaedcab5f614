package p11

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// certObject is a CKO_CERTIFICATE as read from a token: its CKA_ID and
// CKA_VALUE.
type certObject struct {
	ID    []byte
	Value []byte
}

// tokenCert is a certificate of a token with the CKA_ID that names its key.
type tokenCert struct {
	card.Certificate
	ckaID []byte
}

// pairCertificates turns the certificate objects of a token into
// certificates, keeping only those whose CKA_ID names a key on the token
// (keyIDs: the CKA_IDs of the private or public key objects that can be
// seen). It never fails: what it skips it explains in the returned notes,
// one line each, for the log:
//   - a certificate without a key (CA certificates that tokens carry, or a
//     key hidden until login with no public key beside it): a certificate
//     whose key cannot be used must not be offered for any operation, and
//     cards.CapabilitiesOf decides by key usage alone;
//   - a certificate whose CKA_VALUE does not parse;
//   - a CKA_ID held by more than one certificate (which key goes with
//     which cannot be told), all of them;
//   - the same certificate twice (the second).
func pairCertificates(objs []certObject, keyIDs [][]byte) ([]tokenCert, []string) {
	var notes []string
	idCount := map[string]int{}
	for _, o := range objs {
		idCount[string(o.ID)]++
	}
	hasKey := map[string]bool{}
	for _, k := range keyIDs {
		hasKey[string(k)] = true
	}
	seen := map[string]bool{}
	var out []tokenCert
	for i, o := range objs {
		name := fmt.Sprintf("certificate %d (CKA_ID %s)", i, hex.EncodeToString(truncate(o.ID, 32)))
		switch {
		case len(o.ID) == 0:
			notes = append(notes, name+": no CKA_ID, so no key can be paired; skipped")
			continue
		case idCount[string(o.ID)] > 1:
			notes = append(notes, name+": CKA_ID shared with another certificate; skipped")
			continue
		case !hasKey[string(o.ID)]:
			notes = append(notes, name+": no key with its CKA_ID; skipped")
			continue
		}
		cert, err := x509.ParseCertificate(o.Value)
		if err != nil {
			notes = append(notes, name+": unparsable certificate; skipped: "+err.Error())
			continue
		}
		id := card.CertID(cert.Raw)
		if seen[id] {
			notes = append(notes, name+": the same certificate again; skipped")
			continue
		}
		seen[id] = true
		out = append(out, tokenCert{
			Certificate: card.Certificate{Cert: cert, ID: id, Usage: certinfo.UsageOf(cert)},
			ckaID:       bytes.Clone(o.ID),
		})
	}
	return out, notes
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
