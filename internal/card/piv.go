package card

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// PIV instructions and references (NIST SP 800-73-4 Part 2 §3).
const (
	insSelect      = 0xA4
	insGetData     = 0xCB
	insVerify      = 0x20
	insChangeRef   = 0x24
	insResetRetry  = 0x2C
	insGeneralAuth = 0x87
	refPIN         = 0x80
	refPUK         = 0x81
)

// PIV algorithm identifiers (SP 800-78-4 Table 6-2).
const (
	algRSA1024 = 0x06
	algRSA2048 = 0x07
	algRSA3072 = 0x05
	algECCP256 = 0x11
	algECCP384 = 0x14
)

// pivAID is the PIV application identifier without its version bytes, as
// OpenSC and most clients select it (SP 800-73-4 Part 1 §2.2).
var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00}

// Slot is a PIV key reference.
type Slot byte

// The key references whose certificates CardBridge reads.
const (
	SlotAuthentication Slot = 0x9A
	SlotSignature      Slot = 0x9C
	SlotKeyManagement  Slot = 0x9D
	SlotCardAuth       Slot = 0x9E
)

var slots = []struct {
	slot Slot
	tag  uint32
}{
	{SlotAuthentication, 0x5FC105},
	{SlotSignature, 0x5FC10A},
	{SlotKeyManagement, 0x5FC10B},
	{SlotCardAuth, 0x5FC101},
}

// String names the slot as PIV does.
func (s Slot) String() string { return fmt.Sprintf("%02X", byte(s)) }

// Conn is what the PIV client needs from a reader: the one narrow byte
// interface. A Conn that also implements Transactor gets each operation
// wrapped in one PC/SC transaction.
type Conn interface {
	apdu.Transmitter
}

// Transactor is implemented by connections that can keep other programs'
// APDUs out of a multi-APDU operation (pcsc.Card does).
type Transactor interface {
	Begin() error
	End() error
}

// Identity says which inserted card a connection reaches; it keys the
// certificate cache. Events is the reader's PC/SC event counter, which
// changes at every insertion; where the platform has none (Windows) it is 0
// and the cache also compares the CHUID, at the cost of one APDU.
type Identity struct {
	Reader string
	Events int
	ATR    []byte
}

// PIV is a PIV card application reached through a Conn. Its methods are
// serialised: one operation at a time per card.
type PIV struct {
	mu    sync.Mutex
	conn  Conn
	id    Identity
	cache *Cache
}

// NewPIV returns a PIV client over conn. cache may be nil (no caching).
func NewPIV(conn Conn, id Identity, cache *Cache) *PIV {
	return &PIV{conn: conn, id: id, cache: cache}
}

// Identity returns the identity NewPIV was given.
func (p *PIV) Identity() Identity { return p.id }

// do runs one logical operation inside a transaction with PIV selected.
func (p *PIV) do(op string, f func() error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tx, ok := p.conn.(Transactor); ok {
		if err := tx.Begin(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		defer tx.End()
	}
	if err := p.selectPIV(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := f(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Probe selects the PIV application and nothing else: ErrNotPIV (or the
// card's status word) when the card has none. It tells a PIV card from
// others on a card's first opening.
func (p *PIV) Probe() error { return p.do("probe", func() error { return nil }) }

// ErrNotPIV reports a card without a PIV application.
var ErrNotPIV = errors.New("card has no PIV application")

func (p *PIV) selectPIV() error {
	r, err := apdu.Transceive(p.conn, apdu.Command{INS: insSelect, P1: 0x04, Data: pivAID, Ne: 256})
	if err != nil {
		return fmt.Errorf("select piv: %w", err)
	}
	if errors.Is(r.Err(), apdu.ErrNotFound) {
		return fmt.Errorf("select piv: %w", ErrNotPIV)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("select piv: %w", err)
	}
	return nil
}

func (p *PIV) send(c apdu.Command) ([]byte, error) {
	r, err := apdu.Transceive(p.conn, c)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// getData reads a data object and returns the content of its 53 (or, for
// Discovery, 7E) wrapper. Absent objects give apdu.ErrNotFound.
func (p *PIV) getData(tag uint32) ([]byte, error) {
	var tagBytes []byte
	if tag > 0xFFFF {
		tagBytes = []byte{byte(tag >> 16), byte(tag >> 8), byte(tag)}
	} else {
		tagBytes = []byte{byte(tag)}
	}
	data, err := p.send(apdu.Command{INS: insGetData, P1: 0x3F, P2: 0xFF, Data: apdu.TLVBytes(0x5C, tagBytes), Ne: 256})
	if err != nil {
		return nil, fmt.Errorf("get data %X: %w", tag, err)
	}
	outer := uint32(0x53)
	if tag == 0x7E {
		outer = 0x7E
	}
	v, ok, err := apdu.Find(data, outer)
	if err != nil || !ok {
		return nil, fmt.Errorf("get data %X: bad object: %w", tag, apdu.ErrMalformed)
	}
	return v, nil
}

// Certificate is a certificate read from the card with the slot of its key.
type Certificate struct {
	Slot Slot
	Cert *x509.Certificate
	// ID is the lowercase hex SHA-256 of the DER: the certificate's id
	// across CardBridge (and the key's, since each slot holds one pair).
	ID    string
	Usage certinfo.Usage
	// ReadOnly marks a certificate read from a card CardBridge can show but
	// not use (a HiCOS card without its vendor's module): no key operation
	// reaches it.
	ReadOnly bool
}

// CertID returns the id of a certificate: hex SHA-256 of its DER.
func CertID(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// Certificates returns the certificates in slots 9A, 9C, 9D and 9E. While
// the same card stays in the reader a second call costs no APDU.
func (p *PIV) Certificates() ([]Certificate, error) {
	if certs, ok := p.cache.lookup(p.id, nil); ok { // misses when Events is 0: that needs the CHUID
		return certs, nil
	}
	var out []Certificate
	err := p.do("read certificates", func() error {
		var chuid []byte
		if p.id.Events == 0 && p.cache != nil {
			var err error
			if chuid, err = p.getData(0x5FC102); err != nil && !errors.Is(err, apdu.ErrNotFound) {
				return err
			}
			if certs, ok := p.cache.lookup(p.id, chuid); ok {
				out = certs
				return nil
			}
		}
		for _, s := range slots {
			obj, err := p.getData(s.tag)
			if errors.Is(err, apdu.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			cert, err := parseCertObject(obj)
			if err != nil {
				return fmt.Errorf("slot %s: %w", s.slot, err)
			}
			out = append(out, Certificate{Slot: s.slot, Cert: cert, ID: CertID(cert.Raw), Usage: certinfo.UsageOf(cert)})
		}
		p.cache.store(p.id, chuid, out)
		return nil
	})
	return out, err
}

// parseCertObject reads the certificate from a PIV certificate object:
// 70 certificate, 71 CertInfo (compression flag), FE error detection code
// (SP 800-73-4 Part 1 Table 10 and following).
func parseCertObject(obj []byte) (*x509.Certificate, error) {
	der, ok, err := apdu.Find(obj, 0x70)
	if err != nil || !ok {
		return nil, fmt.Errorf("certificate object without 70: %w", apdu.ErrMalformed)
	}
	if info, ok, _ := apdu.Find(obj, 0x71); ok && len(info) == 1 && info[0]&0x01 != 0 {
		return nil, errors.New("compressed certificates are not supported")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// CHUID returns the Card Holder Unique Identifier object content.
func (p *PIV) CHUID() ([]byte, error) {
	var v []byte
	err := p.do("read chuid", func() (err error) {
		v, err = p.getData(0x5FC102)
		return err
	})
	return v, err
}

// GUID returns the card's GUID from the CHUID (tag 34) as 32 hex digits.
func GUIDOf(chuid []byte) string {
	if g, ok, err := apdu.Find(chuid, 0x34); err == nil && ok {
		return hex.EncodeToString(g)
	}
	return ""
}

// keyFor finds the slot and public key of the certificate with id.
func (p *PIV) keyFor(id string) (Certificate, error) {
	certs, err := p.Certificates()
	if err != nil {
		return Certificate{}, err
	}
	for _, c := range certs {
		if c.ID == id {
			return c, nil
		}
	}
	return Certificate{}, fmt.Errorf("certificate %.16s…: %w", id, ErrUnknownCertificate)
}

// ErrUnknownCertificate reports a certificate id that is not on the card.
var ErrUnknownCertificate = errors.New("no such certificate on the card")

func algorithmOf(pub crypto.PublicKey) (byte, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 1024:
			return algRSA1024, nil
		case 2048:
			return algRSA2048, nil
		case 3072:
			return algRSA3072, nil
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return algECCP256, nil
		case 384:
			return algECCP384, nil
		}
	}
	return 0, fmt.Errorf("unsupported key %T", pub)
}

// generalAuthenticate sends a challenge (a padded RSA block or an ECDSA
// digest) to the key in slot and returns the card's response (82).
func (p *PIV) generalAuthenticate(slot Slot, alg byte, challenge []byte) ([]byte, error) {
	tmpl := apdu.TLVBytes(0x82, nil)
	tmpl = apdu.AppendTLV(tmpl, 0x81, challenge)
	data, err := p.send(apdu.Command{INS: insGeneralAuth, P1: alg, P2: byte(slot), Data: apdu.TLVBytes(0x7C, tmpl), Ne: 256})
	if err != nil {
		return nil, fmt.Errorf("general authenticate %s: %w", slot, err)
	}
	v, ok, err := apdu.Find(data, 0x7C)
	if err != nil || !ok {
		return nil, fmt.Errorf("general authenticate %s: no 7C: %w", slot, apdu.ErrMalformed)
	}
	out, ok, err := apdu.Find(v, 0x82)
	if err != nil || !ok {
		return nil, fmt.Errorf("general authenticate %s: no 82: %w", slot, apdu.ErrMalformed)
	}
	return bytes.Clone(out), nil
}
