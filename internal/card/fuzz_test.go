package card

import (
	"bytes"
	"crypto"
	"errors"
	"testing"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// certContent is a certificate object without its 53 wrapper, as
// parseCertObject gets it.
func certContent(der []byte, info byte) []byte {
	v, _, _ := apdu.Find(certObj(der, info), 0x53)
	return v
}

func FuzzParseCertObject(f *testing.F) {
	_, _, st := newTestCard(f, cardOpts{})
	_, _, ec := newTestCard(f, cardOpts{SignAlg: "p256"})
	for _, der := range [][]byte{st.Cert(softcard.SlotAuthentication), st.Cert(softcard.SlotKeyManagement), ec.Cert(softcard.SlotAuthentication)} {
		v := certContent(der, 0)
		f.Add(v)
		f.Add(certContent(der, 1))      // compressed flag
		f.Add(apdu.TLVBytes(0x70, der)) // no 71, no FE
		f.Add(v[:len(v)/2])             // truncated
	}
	f.Add([]byte{})
	f.Add(h("70 00 71 01 00 FE 00"))
	f.Add(h("71 01 00 70 03 30 01 00"))
	f.Add(h("70 84 FF FF FF FF"))
	f.Add(h("70 80 00 00"))

	f.Fuzz(func(t *testing.T, obj []byte) {
		cert, err := parseCertObject(obj)
		if (cert == nil) == (err == nil) {
			t.Fatalf("parseCertObject(% X) = %v, %v: want exactly one of certificate and error", obj, cert != nil, err)
		}
		if err != nil {
			return
		}
		// What parses re-encodes to an object that parses to the same
		// certificate.
		again, err := parseCertObject(certContent(cert.Raw, 0))
		if err != nil {
			t.Fatalf("re-encoded certificate does not parse: %v", err)
		}
		if !bytes.Equal(again.Raw, cert.Raw) {
			t.Fatalf("re-encoded certificate differs")
		}
		if CertID(cert.Raw) != CertID(again.Raw) {
			t.Fatalf("CertID differs after re-encoding")
		}
	})
}

// replay answers the client with R-APDUs cut from fuzz input (a length
// byte, then that many bytes), and 6F00 once the input runs out.
type replay struct {
	in []byte
}

func (r *replay) Transmit([]byte) ([]byte, error) {
	if len(r.in) == 0 {
		return []byte{0x6F, 0x00}, nil
	}
	n := int(r.in[0])
	r.in = r.in[1:]
	n = min(n, len(r.in))
	out := bytes.Clone(r.in[:n])
	r.in = r.in[n:]
	return out, nil
}

// FuzzClientResponses feeds the PIV client arbitrary card answers: a card
// is untrusted input too. The client must not panic, and whatever it
// returns must be consistent.
func FuzzClientResponses(f *testing.F) {
	_, _, st := newTestCard(f, cardOpts{})
	obj := certObj(st.Cert(softcard.SlotAuthentication), 0)
	seed := func(resps ...[]byte) []byte {
		var b []byte
		for _, r := range resps {
			b = append(b, byte(len(r)))
			b = append(b, r...)
		}
		return b
	}
	ok := h("90 00")
	chunks := [][]byte{ok}
	for off := 0; off < len(obj); off += 250 {
		end := min(off+250, len(obj))
		sw := h("90 00")
		if end < len(obj) {
			sw = []byte{0x61, byte(min(len(obj)-end, 250))}
		}
		chunks = append(chunks, append(bytes.Clone(obj[off:end]), sw...))
	}
	f.Add(seed(chunks...))
	f.Add(seed(ok, h("6A 82"), h("6A 82"), h("6A 82"), h("6A 82")))
	f.Add(seed(ok, h("63 C2")))
	f.Add(seed(ok, h("69 83")))
	f.Add(seed(ok, ok, ok, h("7C 06 82 04 01 02 03 04 90 00")))
	f.Add(seed(ok, h("6C 10"), h("61 00")))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		// One operation per fuzz input, picked by its first byte.
		if len(in) == 0 {
			return
		}
		p := NewPIV(&replay{in: in[1:]}, Identity{Reader: testReader, Events: 1}, nil)
		switch in[0] % 6 {
		case 0:
			certs, err := p.Certificates()
			if err == nil {
				for _, c := range certs {
					if c.Cert == nil || c.ID != CertID(c.Cert.Raw) {
						t.Fatalf("Certificates() returned an inconsistent certificate")
					}
				}
			}
		case 1:
			st, err := p.PINStatus()
			if err == nil && (st.TriesLeft < -1 || st.TriesLeft > 15 || st.Verified && st.Blocked || st.Verified != (st.TriesLeft == -1)) {
				t.Fatalf("PINStatus() = %+v", st)
			}
		case 2:
			err := p.VerifyPIN(goodPIN)
			var ae *AuthError
			if errors.As(err, &ae) && (ae.TriesLeft < 0 || ae.TriesLeft > 15 || ae.Blocked != (ae.TriesLeft == 0)) {
				t.Fatalf("VerifyPIN() = %#v", ae)
			}
		case 3:
			p.CHUID()
		case 4:
			p.UnblockPIN(goodPUK, goodPIN)
		case 5:
			// Sign needs a certificate: the answers must first make one up.
			if certs, err := p.Certificates(); err == nil && len(certs) > 0 {
				p.Sign(certs[0].ID, make([]byte, 32), crypto.SHA256, goodPIN)
				p.Decrypt(certs[0].ID, make([]byte, 256), nil, goodPIN)
			}
		}
	})
}
