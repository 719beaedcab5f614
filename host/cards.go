package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // OAEP with SHA-1, as older senders use
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/diag"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// backend is where readers and cards come from: the PC/SC service, or the
// configured virtual card.
type backend interface {
	// states lists the readers; none is an empty list.
	states() ([]pcsc.ReaderState, error)
	// open connects to the card in reader; close releases it.
	open(reader string, cache *card.Cache) (p *card.PIV, close func(), err error)
}

// pcscBackend reaches cards through the smart-card service. It takes a
// fresh PC/SC context per operation: pcsc-lite serialises calls on one
// context, and a separate one lets readers answer while a card works.
type pcscBackend struct{}

func (pcscBackend) states() ([]pcsc.ReaderState, error) {
	x, err := pcsc.Establish()
	if err != nil {
		return nil, err
	}
	defer x.Close()
	names, err := x.Readers()
	if err != nil || len(names) == 0 {
		return nil, err
	}
	return x.Status(names)
}

func (pcscBackend) open(reader string, cache *card.Cache) (*card.PIV, func(), error) {
	x, err := pcsc.Establish()
	if err != nil {
		return nil, nil, err
	}
	p, conn, err := card.Open(x, reader, cache)
	if err != nil {
		x.Close()
		return nil, nil, err
	}
	return p, func() { conn.Close(); x.Close() }, nil
}

// cards is the host's access to cards: it finds the card of a certificate,
// serialises operations per reader within the process (PC/SC transactions
// do it across processes) and keeps the certificate cache warm between
// requests.
type cards struct {
	backends []backend
	cache    *card.Cache
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	locks map[string]chan struct{}
}

func newCards(cfg config.Config, log *slog.Logger) *cards {
	c := &cards{cache: card.NewCache(), log: log, now: time.Now, locks: map[string]chan struct{}{}}
	c.backends = []backend{pcscBackend{}}
	if cfg.VirtualReader != "" {
		c.backends = append(c.backends, newVirtualBackend(cfg.VirtualReader))
	}
	return c
}

// lock takes reader's lock, waiting no longer than ctx.
func (c *cards) lock(ctx context.Context, reader string) (func(), error) {
	c.mu.Lock()
	l, ok := c.locks[reader]
	if !ok {
		l = make(chan struct{}, 1)
		c.locks[reader] = l
	}
	c.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// states lists the readers of every backend. An error of one backend is
// reported only when no backend answered.
func (c *cards) states() ([]pcsc.ReaderState, backendOf, error) {
	var all []pcsc.ReaderState
	owner := backendOf{}
	var firstErr error
	answered := false
	for _, b := range c.backends {
		st, err := b.states()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		answered = true
		for _, s := range st {
			owner[s.Reader] = b
		}
		all = append(all, st...)
	}
	if !answered {
		return nil, nil, firstErr
	}
	return all, owner, nil
}

type backendOf map[string]backend

func readerOf(s pcsc.ReaderState) protocol.Reader {
	r := protocol.Reader{Name: s.Reader, Card: s.Present(), InUse: s.Exclusive(), Mute: s.Mute()}
	if s.Present() && len(s.ATR) > 0 {
		r.ATR = fmt.Sprintf("%X", s.ATR)
	}
	return r
}

func (c *cards) readers(ctx context.Context) (any, error) {
	st, _, err := c.states()
	if err != nil {
		return nil, err
	}
	out := []protocol.Reader{}
	for _, s := range st {
		out = append(out, readerOf(s))
	}
	return map[string]any{"readers": out}, nil
}

// eachCard calls f with the card in each reader that has one (only reader,
// when given), holding that reader's lock, until f returns done. A card
// that cannot be opened or read (f returns an error without done) is
// skipped: an unusable card in one reader (a health-insurance card, a card
// held by another program) must not hide the certificate card in another.
// When no call finished, eachCard returns a *searchEnd carrying the last
// such error, and ErrNoReader when there is no reader at all.
func (c *cards) eachCard(ctx context.Context, reader string, f func(reader string, p *card.PIV) (done bool, err error)) error {
	st, owner, err := c.states()
	if err != nil {
		return err
	}
	if len(st) == 0 {
		return fmt.Errorf("find card: %w", pcsc.ErrNoReader)
	}
	found := false
	var last error
	for _, s := range st {
		if reader != "" && s.Reader != reader {
			continue
		}
		found = true
		if !s.Present() {
			continue
		}
		done, err := c.withCard(ctx, owner[s.Reader], s.Reader, f)
		switch {
		case done:
			return err
		case err != nil && ctx.Err() != nil: // timed out waiting for the reader
			return err
		case err != nil:
			c.log.Info("card skipped", "reader", s.Reader, "err", err)
			last = err
		}
	}
	if reader != "" && !found {
		return fmt.Errorf("reader %q: %w", reader, pcsc.ErrUnknownReader)
	}
	return &searchEnd{last: last}
}

// searchEnd ends eachCard when f never finished. Callers turn it into the
// error that fits: the last card's own error (card removed, unsupported
// card), or no card, or unknown certificate.
type searchEnd struct{ last error }

func (e *searchEnd) Error() string {
	if e.last == nil {
		return "no card matched"
	}
	return "no card matched; last card: " + e.last.Error()
}

func (e *searchEnd) Unwrap() error { return e.last }

// endOfSearch returns the *searchEnd in err, or nil.
func endOfSearch(err error) *searchEnd {
	var end *searchEnd
	if errors.As(err, &end) {
		return end
	}
	return nil
}

func (c *cards) withCard(ctx context.Context, b backend, reader string, f func(string, *card.PIV) (bool, error)) (bool, error) {
	unlock, err := c.lock(ctx, reader)
	if err != nil {
		return false, err
	}
	defer unlock()
	p, closeCard, err := b.open(reader, c.cache)
	if err != nil {
		return false, err
	}
	defer closeCard()
	return f(reader, p)
}

func (c *cards) certificates(ctx context.Context, reader string) (any, error) {
	out := []protocol.Certificate{}
	err := c.eachCard(ctx, reader, func(r string, p *card.PIV) (bool, error) {
		certs, err := p.Certificates()
		if err != nil {
			return false, err
		}
		for _, k := range certs {
			out = append(out, protocol.Certificate{ID: k.ID, Reader: r, Slot: k.Slot.String(), Certificate: k.Cert.Raw, Info: certinfo.Describe(k.Cert, c.now())})
		}
		return false, nil
	})
	end := endOfSearch(err)
	switch {
	case end == nil:
		return nil, err
	case len(out) > 0:
	case end.last != nil:
		return nil, end.last
	default:
		return nil, fmt.Errorf("certificates: %w", pcsc.ErrNoCard)
	}
	return map[string]any{"certificates": out}, nil
}

// withCertificate runs f on the card holding certificate id.
func (c *cards) withCertificate(ctx context.Context, id string, f func(p *card.PIV, k card.Certificate) error) error {
	readOne := false
	err := c.eachCard(ctx, "", func(r string, p *card.PIV) (bool, error) {
		certs, err := p.Certificates()
		if err != nil {
			return false, err
		}
		readOne = true
		for _, k := range certs {
			if k.ID == id {
				return true, f(p, k)
			}
		}
		return false, nil
	})
	end := endOfSearch(err)
	switch {
	case end == nil:
		return err
	case readOne: // cards were read, none holds it: it was changed
		return fmt.Errorf("certificate %s: %w", id[:8], card.ErrUnknownCertificate)
	case end.last != nil: // the only card(s) failed: say why (removed, unsupported…)
		return fmt.Errorf("certificate %s: %w", id[:8], end.last)
	}
	return fmt.Errorf("certificate %s: %w", id[:8], pcsc.ErrNoCard)
}

// withPIVOf runs f on the card picked by a: a reader, the card of a
// certificate, or the first card.
func (c *cards) withPIVOf(ctx context.Context, a protocol.CardArgs, f func(reader string, p *card.PIV) error) error {
	if a.CertificateID != "" {
		return c.withCertificate(ctx, a.CertificateID, func(p *card.PIV, _ card.Certificate) error {
			return f(p.Identity().Reader, p)
		})
	}
	err := c.eachCard(ctx, a.Reader, func(r string, p *card.PIV) (bool, error) {
		return true, f(r, p)
	})
	if end := endOfSearch(err); end != nil {
		if end.last != nil {
			return end.last
		}
		return fmt.Errorf("pin: %w", pcsc.ErrNoCard)
	}
	return err
}

// canSign and canDecrypt pick certificates by key usage, never by slot.
func canSign(k card.Certificate) bool {
	return k.Usage == certinfo.UsageSignature || k.Usage == certinfo.UsageSignatureEncryption
}

// canDecrypt admits encryption-only keys: decryption is the raw RSA
// private operation, and on a key that also signs, a page could turn its
// answers (plaintext or ERR_DECRYPT_FAILED) into signatures, login tokens
// included. Taiwan's cert2 is encryption-only.
func canDecrypt(k card.Certificate) bool {
	return k.Usage == certinfo.UsageEncryption
}

func usageError(k card.Certificate, op string) error {
	return &protocol.Error{Code: protocol.ErrCertificateUsage, Details: map[string]any{"usage": string(k.Usage)},
		Err: fmt.Errorf("%s with a %s certificate", op, k.Usage)}
}

func (c *cards) sign(ctx context.Context, a *protocol.SignArgs) (any, error) {
	h := protocol.HashFunc(a.HashAlgorithm)
	var res protocol.SignResult
	err := c.withCertificate(ctx, a.CertificateID, func(p *card.PIV, k card.Certificate) error {
		if !canSign(k) {
			return usageError(k, "sign")
		}
		if a.Format == "cms" {
			return c.signCMS(p, k, h, a, &res)
		}
		digest := []byte(a.Digest)
		if digest == nil {
			hh := h.New()
			hh.Write(a.Data)
			digest = hh.Sum(nil)
		}
		// Raw signatures are RSA PKCS#1 v1.5 only. Tokens are RSA-PSS or
		// ECDSA over SHA-256(SHA-256(origin) ‖ SHA-256(challenge)); were
		// either available here over any digest (or over data the page
		// chose), one site's signing permission would mint login tokens
		// for every other site.
		if _, ok := k.Cert.PublicKey.(*rsa.PublicKey); !ok {
			return &protocol.Error{Code: protocol.ErrUnsupportedAlg, Details: map[string]any{"hint": "format cms"},
				Err: fmt.Errorf("raw signature with a %s key: ECDSA keys sign with format cms: %w", k.Cert.PublicKeyAlgorithm, card.ErrUnsupported)}
		}
		alg, err := sigName(k.Cert.PublicKey, h)
		if err != nil {
			return err
		}
		sig, err := p.Sign(k.ID, digest, h, a.PIN)
		if err != nil {
			return err
		}
		res = protocol.SignResult{Signature: sig, Algorithm: alg, Certificate: k.Cert.Raw}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CMS signed attributes Taiwan's verifiers read (taiwan-pki.md §1.4).
var (
	oidRandomNonce = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 25, 3}
	oidCardSerial  = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 204}
	digestOIDs     = map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: pkcs7.OIDDigestAlgorithmSHA256,
		crypto.SHA384: pkcs7.OIDDigestAlgorithmSHA384,
		crypto.SHA512: pkcs7.OIDDigestAlgorithmSHA512,
	}
)

// cardSigner lets the CMS library sign with the card: one Sign call, one
// PIN verification.
type cardSigner struct {
	p   *card.PIV
	k   card.Certificate
	pin []byte
}

func (s *cardSigner) Public() crypto.PublicKey { return s.k.Cert.PublicKey }

func (s *cardSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.p.Sign(s.k.ID, digest, opts, s.pin)
}

// signCMS makes a detached SignedData over a.Data with signingTime, the
// nonce and the card serial as signed attributes.
func (c *cards) signCMS(p *card.PIV, k card.Certificate, h crypto.Hash, a *protocol.SignArgs, res *protocol.SignResult) error {
	alg, err := sigName(k.Cert.PublicKey, h)
	if err != nil {
		return err
	}
	sd, err := pkcs7.NewSignedData(a.Data)
	if err != nil {
		return fmt.Errorf("cms: %w", err)
	}
	sd.SetDigestAlgorithm(digestOIDs[h])
	var attrs []pkcs7.Attribute
	if a.Nonce != "" {
		attrs = append(attrs, pkcs7.Attribute{Type: oidRandomNonce, Value: []byte(a.Nonce)})
	}
	serial := ""
	if a.WithCardSerial == nil || *a.WithCardSerial {
		serial = certinfo.Describe(k.Cert, c.now()).CardSerial
		if serial == "" {
			if chuid, err := p.CHUID(); err == nil {
				serial = card.GUIDOf(chuid)
			}
		}
		if serial != "" {
			attrs = append(attrs, pkcs7.Attribute{Type: oidCardSerial, Value: serial})
		}
	}
	if err := sd.AddSigner(k.Cert, &cardSigner{p: p, k: k, pin: a.PIN}, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		return fmt.Errorf("cms: %w", err) // the card's typed error (wrong PIN, removed) stays reachable
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return fmt.Errorf("cms: %w", err)
	}
	// Read the signing time back from what was signed, which also checks
	// that the library produced a SignedData we can parse.
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return fmt.Errorf("cms: own output does not parse: %w", err)
	}
	var t time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &t); err != nil {
		return fmt.Errorf("cms: signing time: %w", err)
	}
	*res = protocol.SignResult{CMS: der, Algorithm: alg, SigningTime: &t, CardSerial: serial, Certificate: k.Cert.Raw}
	return nil
}

// sigName names a sign result's signature: RS256/384/512 (JWA names) for
// RSA PKCS#1 v1.5, ECDSA-SHA-256/384/512 for ECDSA in CMS, whose
// signatures are DER, not the r‖s that the JWA name ES256 implies.
func sigName(pub crypto.PublicKey, h crypto.Hash) (string, error) {
	bits := map[crypto.Hash]string{crypto.SHA256: "256", crypto.SHA384: "384", crypto.SHA512: "512"}[h]
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RS" + bits, nil
	case *ecdsa.PublicKey:
		return "ECDSA-SHA-" + bits, nil
	}
	return "", fmt.Errorf("key type %T: %w", pub, card.ErrUnsupported)
}

// authToken is the result of authenticate; authtoken.Token is its
// definition for relying sites.
type authToken = authtoken.Token

func (c *cards) authenticate(ctx context.Context, origin string, a *protocol.AuthenticateArgs) (any, error) {
	var tok authToken
	err := c.withCertificate(ctx, a.CertificateID, func(p *card.PIV, k card.Certificate) error {
		// Logging in is digitalSignature; a nonRepudiation-only key is for
		// signing documents, and verifiers refuse it for authentication.
		if k.Cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			return usageError(k, "authenticate")
		}
		alg, err := authtoken.Algorithm(k.Cert.PublicKey)
		if err != nil {
			return fmt.Errorf("authenticate: %w: %w", err, card.ErrUnsupported)
		}
		// RSA keys sign tokens with PSS, which sign never produces (see
		// sign), so no signature a page gets from sign verifies as a token.
		var opts crypto.SignerOpts = crypto.SHA256
		if alg == authtoken.PS256 {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		}
		sig, err := p.Sign(k.ID, authtoken.SignedDigest(origin, a.Challenge), opts, a.PIN)
		if err != nil {
			return err
		}
		if pub, ok := k.Cert.PublicKey.(*ecdsa.PublicKey); ok {
			if sig, err = rawECDSA(sig, (pub.Curve.Params().BitSize+7)/8); err != nil {
				return err
			}
		}
		tok = authToken{Format: authtoken.Format, Certificate: b64(k.Cert.Raw), Algorithm: alg, Signature: b64(sig), AppVersion: version}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// rawECDSA converts an ASN.1 ECDSA signature to the fixed-size r||s form
// JWA uses.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) > 0 || sig.R == nil || sig.S == nil {
		return nil, errors.New("card returned a malformed ECDSA signature")
	}
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > size*8 || sig.S.BitLen() > size*8 {
		return nil, errors.New("card returned an out-of-range ECDSA signature")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

func (c *cards) decrypt(ctx context.Context, a *protocol.DecryptArgs) (any, error) {
	var res protocol.DecryptResult
	err := c.withCertificate(ctx, a.CertificateID, func(p *card.PIV, k card.Certificate) error {
		if !canDecrypt(k) {
			return usageError(k, "decrypt")
		}
		var opts crypto.DecrypterOpts
		if a.Padding == "OAEP" {
			h := crypto.SHA256
			if a.OAEPHash == "SHA-1" {
				h = crypto.SHA1
			}
			opts = &rsa.OAEPOptions{Hash: h, MGFHash: h}
		}
		pt, err := p.Decrypt(k.ID, a.Ciphertext, opts, a.PIN)
		if err != nil {
			return err
		}
		res.Plaintext = pt
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// PIN rules of the cards CardBridge serves (taiwan-pki.md §2.5).
const (
	pinMin, pinMax, pukLen = 6, 8, 8
)

func (c *cards) pinStatus(ctx context.Context, a protocol.CardArgs) (any, error) {
	var res protocol.PINStatusResult
	err := c.withPIVOf(ctx, a, func(r string, p *card.PIV) error {
		st, err := p.PINStatus()
		if err != nil {
			return err
		}
		res = protocol.PINStatusResult{Reader: r, TriesLeft: st.TriesLeft, Blocked: st.Blocked, MinLength: pinMin, MaxLength: pinMax, PUKLength: pukLen}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *cards) changePIN(ctx context.Context, a *protocol.ChangePINArgs) (any, error) {
	return c.pinChange(ctx, a.CardArgs, func(p *card.PIV) error { return p.ChangePIN(a.PIN, a.NewPIN) })
}

func (c *cards) unblockPIN(ctx context.Context, a *protocol.UnblockPINArgs) (any, error) {
	return c.pinChange(ctx, a.CardArgs, func(p *card.PIV) error { return p.UnblockPIN(a.PUK, a.NewPIN) })
}

// pinChange runs change and then reads the PIN's tries, so the page can
// show the card is ready again.
func (c *cards) pinChange(ctx context.Context, a protocol.CardArgs, change func(p *card.PIV) error) (any, error) {
	var res protocol.PINResult
	err := c.withPIVOf(ctx, a, func(r string, p *card.PIV) error {
		if err := change(p); err != nil {
			return err
		}
		res.Reader = r
		res.TriesLeft = -1
		if st, err := p.PINStatus(); err == nil {
			res.TriesLeft = st.TriesLeft
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *cards) check(ctx context.Context, reader string) (any, error) {
	return diag.Run(diag.Options{Reader: reader, Cache: c.cache, Now: c.now}), nil
}

// watch reports reader and card changes of the PC/SC service until ctx
// ends or the service fails.
func (c *cards) watch(ctx context.Context, emit func(event string, r protocol.Reader)) error {
	w, err := pcsc.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for {
		evs, err := w.Next(ctx)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			r := readerOf(ev.State)
			if ev.Kind == pcsc.CardRemoved || ev.Kind == pcsc.ReaderRemoved {
				r.Card, r.ATR, r.InUse, r.Mute = false, "", false, false
			}
			emit(string(ev.Kind), r)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
