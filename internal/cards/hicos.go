package cards

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/card/hicos"
	"github.com/cardbridge/cardbridge/internal/certinfo"
)

// ErrClientNeeded reports a key or PIN operation asked of a HiCOS card
// read without its vendor's module; the edge reports it as
// ERR_HICOS_CLIENT_NEEDED, with where to get the HiCOS client.
var ErrClientNeeded = hicos.ErrClientNeeded

// openToken is the card behind conn as a Token: a PIV card, or a gen-1
// HiCOS card read with its public commands. What a card is gets probed at
// its first opening (one SELECT) and remembered in cache for as long as it
// stays inserted. A card that is neither is returned as PIV, whose
// operations then report it unsupported, as before.
func openToken(conn card.Conn, id card.Identity, cache *card.Cache) Token {
	piv := pivToken{card.NewPIV(conn, id, cache)}
	if k, ok := cache.KindOf(id); ok {
		switch k.Name {
		case "hicos":
			return &hicosToken{conn: conn, id: id, cache: cache, info: hicos.Info{Serial: k.Serial, Version: k.Version}}
		case "other":
			return otherToken{}
		}
		return piv
	}
	err := piv.Probe()
	var st apdu.Status
	if err == nil {
		cache.SetKind(id, card.Kind{Name: "piv"})
		return piv
	}
	if !errors.Is(err, card.ErrNotPIV) && !errors.As(err, &st) {
		return piv // a transport failure: the operation reports it
	}
	noPIV := errors.Is(err, card.ErrNotPIV) || errors.Is(err, apdu.ErrClaNotSupported) || errors.Is(err, apdu.ErrInsNotSupported)
	info, err := hicos.Identify(conn)
	if err != nil {
		if noPIV && errors.Is(err, hicos.ErrNotHiCOS) {
			// Neither, for certain: remembered, so the card is not probed
			// again (nor its PIV application selected once more) while it
			// stays inserted.
			cache.SetKind(id, card.Kind{Name: "other"})
			return otherToken{}
		}
		return piv
	}
	cache.SetKind(id, card.Kind{Name: "hicos", Serial: info.Serial, Version: info.Version})
	return &hicosToken{conn: conn, id: id, cache: cache, info: info}
}

// hicosToken is a gen-1 HiCOS card read natively: its holder's
// certificates, marked read-only, and ErrClientNeeded for everything else.
// It never sends a PIN or a key operation (package hicos).
type hicosToken struct {
	conn  card.Conn
	id    card.Identity
	cache *card.Cache
	info  hicos.Info
}

var _ Token = (*hicosToken)(nil)

// Certificates lists the holder's certificates (the CA certificates the
// card also keeps are left out, as for every other card). While the same
// card stays in its reader a second call costs no APDU.
func (t *hicosToken) Certificates() ([]card.Certificate, error) {
	tag := []byte("hicos:" + t.info.Serial)
	// Without an event counter the card's number is what tells it from the
	// card before; a card without one is read each time.
	cacheable := t.id.Events != 0 || t.info.Serial != ""
	if certs, ok := t.cache.Lookup(t.id, tag); ok && cacheable {
		return certs, nil
	}
	certs, skipped, err := hicos.Certificates(t.conn)
	if err != nil {
		return nil, fmt.Errorf("read HiCOS certificates: %w", err)
	}
	if len(certs) == 0 && len(skipped) > 0 {
		return nil, fmt.Errorf("read HiCOS certificates: %w", errors.Join(skipped...))
	}
	out := []card.Certificate{}
	for _, c := range certs {
		if c.IsCA {
			continue
		}
		out = append(out, card.Certificate{Cert: c, ID: card.CertID(c.Raw), Usage: certinfo.UsageOf(c), ReadOnly: true})
	}
	if cacheable {
		t.cache.Store(t.id, tag, out)
	}
	return out, nil
}

// Serial is the card number printed on the card.
func (t *hicosToken) Serial() string { return t.info.Serial }

func (t *hicosToken) PINStatus() (card.PINStatus, error) {
	return card.PINStatus{}, fmt.Errorf("PIN status: %w", ErrClientNeeded)
}
func (t *hicosToken) VerifyPIN([]byte) error { return fmt.Errorf("verify PIN: %w", ErrClientNeeded) }
func (t *hicosToken) ChangePIN(_, _ []byte) error {
	return fmt.Errorf("change PIN: %w", ErrClientNeeded)
}
func (t *hicosToken) UnblockPIN(_, _ []byte) error {
	return fmt.Errorf("unblock PIN: %w", ErrClientNeeded)
}
func (t *hicosToken) Sign(string, []byte, crypto.SignerOpts, []byte) ([]byte, error) {
	return nil, fmt.Errorf("sign: %w", ErrClientNeeded)
}
func (t *hicosToken) Decrypt(string, []byte, crypto.DecrypterOpts, []byte) ([]byte, error) {
	return nil, fmt.Errorf("decrypt: %w", ErrClientNeeded)
}

// otherToken is a card that is neither PIV nor a gen-1 HiCOS card (a
// health-insurance card): every operation reports card.ErrNotPIV, so a
// fallback module may take it, without sending it anything.
type otherToken struct{}

var _ Token = otherToken{}

func errOther(op string) error { return fmt.Errorf("%s: %w", op, card.ErrNotPIV) }

func (otherToken) Certificates() ([]card.Certificate, error) {
	return nil, errOther("read certificates")
}
func (otherToken) Serial() string { return "" }
func (otherToken) PINStatus() (card.PINStatus, error) {
	return card.PINStatus{}, errOther("PIN status")
}
func (otherToken) VerifyPIN([]byte) error       { return errOther("verify PIN") }
func (otherToken) ChangePIN(_, _ []byte) error  { return errOther("change PIN") }
func (otherToken) UnblockPIN(_, _ []byte) error { return errOther("unblock PIN") }
func (otherToken) Sign(string, []byte, crypto.SignerOpts, []byte) ([]byte, error) {
	return nil, errOther("sign")
}
func (otherToken) Decrypt(string, []byte, crypto.DecrypterOpts, []byte) ([]byte, error) {
	return nil, errOther("decrypt")
}
