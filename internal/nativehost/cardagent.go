package nativehost

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"slices"

	"github.com/cardbridge/cardbridge/internal/hipki"

	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/diag"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// CardAgent is the Agent of the shipped host: the card commands over one
// cards.Manager, with results in the protocol's shapes, and what a web
// page may ask for (docs/protocol.md §4.15): raw signatures and
// decryption only for the origins an administrator listed; every other
// page's signature is a CMS that names its origin.
type CardAgent struct {
	m           *cards.Manager
	cfg         config.Config
	version     string
	development bool
}

// NewCardAgent returns the agent for m; cfg is what config reports and
// what pages may do, version goes into login tokens, development marks a
// development build.
func NewCardAgent(m *cards.Manager, cfg config.Config, version string, development bool) *CardAgent {
	return &CardAgent{m: m, cfg: cfg, version: version, development: development}
}

// notAllowed refuses operation to a page the administrator did not list.
// LegacySite reports whether origin's pages speak HiPKI's protocol and get
// it answered: a built-in government site or one of legacySites. Their
// pages ask for raw signatures and decryption by design, so these are
// allowed them as to rawSignOrigins and decryptOrigins.
func LegacySite(cfg config.Config, origin string) bool {
	return (!cfg.NoBuiltinLegacySites && hipki.BuiltinSite(origin)) || slices.Contains(cfg.LegacySites, origin)
}

// legacyBuiltin is the built-in sites' pattern for the extension, or ""
// when the administrator turned them off.
func legacyBuiltin(cfg config.Config) string {
	if cfg.NoBuiltinLegacySites {
		return ""
	}
	return hipki.BuiltinSites
}

func notAllowed(operation, origin, setting string) error {
	return &protocol.Error{Code: protocol.ErrNotAllowed, Details: map[string]any{"operation": operation, "origin": origin},
		Err: fmt.Errorf("%s for %s: the origin is not in the system configuration's %s", operation, origin, setting)}
}

var _ Agent = (*CardAgent)(nil)

// readerOf is a reader as the protocol shows it.
func readerOf(s pcsc.ReaderState) protocol.Reader {
	r := protocol.Reader{Name: s.Reader, Card: s.Present(), InUse: s.Exclusive(), Mute: s.Mute(), Virtual: cards.IsVirtualReader(s.Reader)}
	if s.Present() && len(s.ATR) > 0 {
		r.ATR = fmt.Sprintf("%X", s.ATR)
	}
	return r
}

// Readers implements Agent.
func (c *CardAgent) Readers(ctx context.Context) (any, error) {
	st, err := c.m.Readers(ctx)
	if err != nil {
		return nil, err
	}
	out := []protocol.Reader{}
	for _, s := range st {
		out = append(out, readerOf(s))
	}
	return map[string]any{"readers": out}, nil
}

// Check implements Agent.
func (c *CardAgent) Check(ctx context.Context, a protocol.ReaderArgs) (any, error) {
	return diag.Run(ctx, c.m, diag.Options{Reader: a.Reader, Now: c.m.Now}), nil
}

// Certificates implements Agent.
func (c *CardAgent) Certificates(ctx context.Context, a protocol.ReaderArgs) (any, error) {
	certs, err := c.m.Certificates(ctx, a.Reader)
	if err != nil {
		return nil, err
	}
	now := c.m.Now()
	out := []protocol.Certificate{}
	for _, k := range certs {
		caps := make([]string, len(k.Capabilities))
		for i, c := range k.Capabilities {
			caps[i] = string(c)
		}
		out = append(out, protocol.Certificate{ID: k.ID, Reader: k.Reader, Slot: k.Slot.String(), Certificate: k.Cert.Raw,
			Info: certinfo.Describe(k.Cert, now), Capabilities: caps, VirtualReader: cards.IsVirtualReader(k.Reader),
			Backend: k.Source.Kind, Module: k.Source.Module, ReadOnly: k.ReadOnly})
	}
	return map[string]any{"certificates": out}, nil
}

// Sign implements Agent: raw (a digest, or data hashed here) or a detached
// CMS over data.
func (c *CardAgent) Sign(ctx context.Context, origin string, a *protocol.SignArgs) (any, error) {
	h := protocol.HashFunc(a.HashAlgorithm)
	var sig cards.Signature
	var err error
	if a.Format == "cms" {
		o := cards.CMSOptions{Nonce: a.Nonce, WithCardSerial: a.WithCardSerial == nil || *a.WithCardSerial, Origin: origin}
		sig, err = c.m.SignCMS(ctx, a.CertificateID, a.Data, h, o, a.PIN)
	} else {
		// A raw signature over a digest or data the page chose is a
		// general signing tool for the card's key, which on Taiwan cards
		// is also its TLS client-authentication key.
		if origin != "" && !slices.Contains(c.cfg.RawSignOrigins, origin) && !LegacySite(c.cfg, origin) {
			return nil, notAllowed("rawSign", origin, "rawSignOrigins")
		}
		digest := []byte(a.Digest)
		if digest == nil {
			hh := h.New()
			hh.Write(a.Data)
			digest = hh.Sum(nil)
		}
		sig, err = c.m.SignDigest(ctx, a.CertificateID, digest, h, a.PIN)
	}
	if err != nil {
		return nil, err
	}
	return protocol.SignResult{Signature: sig.Signature, CMS: sig.CMS, Algorithm: sig.Algorithm, SigningTime: sig.SigningTime, CardSerial: sig.CardSerial, Certificate: sig.Certificate}, nil
}

// Authenticate implements Agent.
func (c *CardAgent) Authenticate(ctx context.Context, origin string, a *protocol.AuthenticateArgs) (any, error) {
	tok, err := c.m.Authenticate(ctx, a.CertificateID, origin, a.Challenge, a.PIN, c.version)
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// Decrypt implements Agent.
func (c *CardAgent) Decrypt(ctx context.Context, origin string, a *protocol.DecryptArgs) (any, error) {
	if origin != "" && !slices.Contains(c.cfg.DecryptOrigins, origin) && !LegacySite(c.cfg, origin) {
		return nil, notAllowed("decrypt", origin, "decryptOrigins")
	}
	var opts crypto.DecrypterOpts
	if a.Padding == "OAEP" {
		h := crypto.SHA256
		if a.OAEPHash == "SHA-1" {
			h = crypto.SHA1
		}
		opts = &rsa.OAEPOptions{Hash: h, MGFHash: h}
	}
	pt, err := c.m.Decrypt(ctx, a.CertificateID, a.Ciphertext, opts, a.PIN)
	if err != nil {
		return nil, err
	}
	return protocol.DecryptResult{Plaintext: pt}, nil
}

func refOf(a protocol.CardArgs) cards.Ref {
	return cards.Ref{Reader: a.Reader, CertificateID: a.CertificateID}
}

// PINStatus implements Agent.
func (c *CardAgent) PINStatus(ctx context.Context, a protocol.CardArgs) (any, error) {
	st, err := c.m.PINStatus(ctx, refOf(a))
	if err != nil {
		return nil, err
	}
	return protocol.PINStatusResult{Reader: st.Reader, TriesLeft: st.TriesLeft, Blocked: st.Blocked,
		MinLength: st.Rule.MinLength, MaxLength: st.Rule.MaxLength, PUKLength: st.Rule.PUKLength, Characters: st.Rule.Characters}, nil
}

// ChangePIN implements Agent.
func (c *CardAgent) ChangePIN(ctx context.Context, a *protocol.ChangePINArgs) (any, error) {
	r, err := c.m.ChangePIN(ctx, refOf(a.CardArgs), a.PIN, a.NewPIN)
	return pinResult(r, err)
}

// UnblockPIN implements Agent.
func (c *CardAgent) UnblockPIN(ctx context.Context, a *protocol.UnblockPINArgs) (any, error) {
	r, err := c.m.UnblockPIN(ctx, refOf(a.CardArgs), a.PUK, a.NewPIN)
	return pinResult(r, err)
}

func pinResult(r cards.PINChange, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return protocol.PINResult{Reader: r.Reader, TriesLeft: r.TriesLeft}, nil
}

// Config implements Agent.
func (c *CardAgent) Config() any {
	origins := c.cfg.ApprovedOrigins
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return map[string]any{"approvedOrigins": orEmpty(origins), "virtualReader": c.cfg.VirtualReader != "",
		"loopbackOrigins": c.development || c.cfg.AllowLoopbackOrigins,
		"rawSignOrigins":  orEmpty(c.cfg.RawSignOrigins), "decryptOrigins": orEmpty(c.cfg.DecryptOrigins),
		"legacySites": orEmpty(c.cfg.LegacySites), "legacyBuiltin": legacyBuiltin(c.cfg)}
}

// Watch implements Agent: PC/SC reader and card events. A removal says
// card false, whatever the last state showed.
func (c *CardAgent) Watch(ctx context.Context, emit func(string, any)) error {
	return c.m.Watch(ctx, func(ev pcsc.Event) {
		r := readerOf(ev.State)
		if ev.Kind == pcsc.CardRemoved || ev.Kind == pcsc.ReaderRemoved {
			r.Card, r.ATR, r.InUse, r.Mute = false, "", false, false
		}
		emit(string(ev.Kind), r)
	})
}
