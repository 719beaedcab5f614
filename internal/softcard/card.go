package softcard

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// PIV instructions (SP 800-73-4 Part 2 §3) and ISO 7816-4 GET RESPONSE.
const (
	insSelect         = 0xA4
	insGetData        = 0xCB
	insVerify         = 0x20
	insChangeRef      = 0x24
	insResetRetry     = 0x2C
	insGeneralAuth    = 0x87
	insGetResponse    = 0xC0
	keyRefPIN         = 0x80
	keyRefPUK         = 0x81
	maxChainedCommand = 4096 // largest GENERAL AUTHENTICATE is an RSA-3072 block, 384 bytes
)

// PIV algorithm identifiers (SP 800-78-4 Table 6-2).
const (
	AlgRSA1024 = 0x06
	AlgRSA2048 = 0x07
	AlgRSA3072 = 0x05
	AlgECCP256 = 0x11
	AlgECCP384 = 0x14
)

// PIVAID is the full PIV application identifier (SP 800-73-4 Part 1 §2.2).
var PIVAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// applicationPropertyTemplate is the SELECT answer: PIX in 4F and the
// coexistent tag allocation authority in 79 (SP 800-73-4 Part 2 §3.1.1).
var applicationPropertyTemplate = apdu.TLVBytes(0x61, concat(
	apdu.TLVBytes(0x4F, PIVAID[5:]),
	apdu.TLVBytes(0x79, apdu.TLVBytes(0x4F, PIVAID[:5])),
	apdu.TLVBytes(0x50, []byte("CardBridge TEST PIV")),
))

// discovery is the Discovery object: PIV AID and a PIN usage policy of
// "application PIN only" (SP 800-73-4 Part 1 §3.3.2).
var discovery = apdu.TLVBytes(0x7E, concat(
	apdu.TLVBytes(0x4F, PIVAID),
	apdu.TLVBytes(0x5F2F, []byte{0x40, 0x00}),
))

// Card is the virtual PIV card: it answers command APDUs the way a PIV card
// does and keeps its state (PIN, tries, keys) in a State that is saved after
// every change when a path is set. A Card is safe for concurrent use, though
// a reader only ever sends one APDU at a time.
type Card struct {
	mu       sync.Mutex
	st       *State
	path     string
	rand     io.Reader
	log      *slog.Logger
	selected bool
	verified bool // PIN verified since the last reset
	fresh    bool // PIN verified by the command just before (for the 9C "always" policy)
	chainHdr [4]byte
	chain    []byte // command chaining: data received so far
	pending  []byte // response chaining: data not yet fetched with GET RESPONSE
	apdus    atomic.Uint64

	profile Profile
	hicos   []hicosFile // the HiCOS profile's files
	hicosDF [2]byte     // its current folder
	hicosEF int         // its selected file (index in hicos), -1 none
}

// Options configures a Card. The zero value is useful.
type Options struct {
	// Path is where the state is saved after each change; empty keeps it
	// in memory only.
	Path string
	// Rand is the randomness for ECDSA; nil means crypto/rand.
	Rand io.Reader
	// Log receives one line per APDU (header and status word only, never the
	// data field, which may hold a PIN); nil discards.
	Log *slog.Logger
	// Profile is what the card answers as: PIV (default) or the read-only
	// HiCOS profile.
	Profile Profile
}

// NewCard returns a powered-off card over st.
func NewCard(st *State, opts Options) *Card {
	c := &Card{st: st, path: opts.Path, rand: opts.Rand, log: opts.Log, profile: opts.Profile, hicosEF: -1}
	if c.profile == ProfileHiCOS {
		c.hicos = hicosFiles(st)
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// ATR returns the answer to reset.
func (c *Card) ATR() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.profile == ProfileHiCOS {
		return hicosATR()
	}
	return bytes.Clone(c.st.ATR)
}

// Reset is a power-on or warm reset: the application is deselected and the
// PIN status cleared, as on a real card.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.selected, c.verified, c.fresh = false, false, false
	c.chain, c.pending = nil, nil
	c.hicosDF, c.hicosEF = [2]byte{}, -1
}

// APDUs returns how many command APDUs the card has answered, for benchmarks.
func (c *Card) APDUs() uint64 { return c.apdus.Load() }

// Tries returns the PIN and PUK tries left, for tests and the control endpoint.
func (c *Card) Tries() (pin, puk int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.PINTries, c.st.PUKTries
}

// Transmit answers one command APDU. It never fails: every problem is a
// status word, as on a card. The error result lets a Card serve directly as
// the in-process transport of the card layer's unit tests.
func (c *Card) Transmit(cmd []byte) ([]byte, error) {
	c.apdus.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.process(cmd)
	c.log.Debug("apdu", "header", headerOf(cmd), "len", len(cmd), "sw", r.SW, "rlen", len(r.Data))
	return r.Bytes(), nil
}

func headerOf(cmd []byte) []byte {
	if len(cmd) > 4 {
		return cmd[:4]
	}
	return cmd
}

func sw(s apdu.Status) apdu.Response { return apdu.Response{SW: uint16(s)} }

func (c *Card) process(raw []byte) apdu.Response {
	cmd, err := apdu.ParseCommand(raw)
	if err != nil {
		c.chain, c.pending = nil, nil
		return sw(apdu.ErrWrongLength)
	}
	if c.profile == ProfileHiCOS {
		return c.processHiCOS(cmd)
	}
	if cmd.INS == insGetResponse {
		return c.getResponse(cmd)
	}
	c.pending = nil
	if cmd.CLA&^apdu.ClaChaining != 0 {
		c.chain = nil
		return sw(apdu.ErrClaNotSupported)
	}
	hdr := [4]byte{cmd.CLA &^ apdu.ClaChaining, cmd.INS, cmd.P1, cmd.P2}
	if c.chain != nil && hdr != c.chainHdr {
		c.chain = nil // a chain broken by another command is dropped
	}
	if cmd.CLA&apdu.ClaChaining != 0 {
		if len(c.chain)+len(cmd.Data) > maxChainedCommand {
			c.chain = nil
			return sw(apdu.ErrWrongLength)
		}
		c.chainHdr = hdr
		c.chain = append(c.chain, cmd.Data...)
		return apdu.Response{SW: apdu.SWOK}
	}
	if c.chain != nil {
		if len(c.chain)+len(cmd.Data) > maxChainedCommand {
			c.chain = nil
			return sw(apdu.ErrWrongLength)
		}
		cmd.Data = append(c.chain, cmd.Data...)
		c.chain = nil
	}
	fresh := c.fresh
	c.fresh = false
	if cmd.INS == insSelect {
		return c.selectApp(cmd)
	}
	if !c.selected {
		return sw(apdu.ErrInsNotSupported)
	}
	switch cmd.INS {
	case insGetData:
		return c.getData(cmd)
	case insVerify:
		return c.verify(cmd)
	case insChangeRef:
		return c.changeReference(cmd)
	case insResetRetry:
		return c.resetRetry(cmd)
	case insGeneralAuth:
		return c.generalAuthenticate(cmd, fresh)
	}
	return sw(apdu.ErrInsNotSupported)
}

// respond returns data, or its first ne bytes with 61xx when it does not
// fit, keeping the rest for GET RESPONSE (ISO 7816-4 §7.1.3). A command
// without Le still gets its data: lenient, as most cards are.
func (c *Card) respond(data []byte, ne int) apdu.Response {
	if ne == 0 {
		ne = apdu.MaxShortNe
	}
	if len(data) <= ne {
		return apdu.Response{Data: data, SW: apdu.SWOK}
	}
	c.pending = data[ne:]
	return apdu.Response{Data: data[:ne], SW: moreData(len(c.pending))}
}

func moreData(n int) uint16 {
	if n >= 256 {
		return apdu.SW1MoreData << 8
	}
	return apdu.SW1MoreData<<8 | uint16(n)
}

func (c *Card) getResponse(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.ErrIncorrectP1P2)
	}
	if c.pending == nil {
		return sw(apdu.ErrConditions)
	}
	data := c.pending
	c.pending = nil
	return c.respond(data, cmd.Ne)
}

func (c *Card) selectApp(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x04 || len(cmd.Data) < 5 || len(cmd.Data) > len(PIVAID) || !bytes.HasPrefix(PIVAID, cmd.Data) {
		return sw(apdu.ErrNotFound)
	}
	// Selecting PIV while it is selected keeps the security status
	// (SP 800-73-4 Part 2 §3.1.1); selecting it anew starts without it.
	if !c.selected {
		c.verified = false
	}
	c.selected = true
	return c.respond(applicationPropertyTemplate, cmd.Ne)
}

func (c *Card) getData(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0x3F || cmd.P2 != 0xFF {
		return sw(apdu.ErrIncorrectP1P2)
	}
	v, ok, err := apdu.Find(cmd.Data, 0x5C)
	if err != nil || !ok || len(v) == 0 || len(v) > 3 {
		return sw(apdu.ErrWrongData)
	}
	var tag uint32
	for _, b := range v {
		tag = tag<<8 | uint32(b)
	}
	switch tag {
	case 0x7E:
		return c.respond(discovery, cmd.Ne)
	case 0x5FC102:
		if len(c.st.CHUID) == 0 {
			return sw(apdu.ErrNotFound)
		}
		return c.respond(apdu.TLVBytes(0x53, c.st.CHUID), cmd.Ne)
	}
	for _, s := range Slots {
		if s.CertTag() != tag {
			continue
		}
		der := c.st.Cert(s)
		if der == nil {
			return sw(apdu.ErrNotFound)
		}
		obj := concat(apdu.TLVBytes(0x70, der), apdu.TLVBytes(0x71, []byte{0}), apdu.TLVBytes(0xFE, nil))
		return c.respond(apdu.TLVBytes(0x53, obj), cmd.Ne)
	}
	return sw(apdu.ErrNotFound)
}

// parseRefData unpads an 8-byte PIN or PUK field (padding 0xFF).
func parseRefData(b []byte, minLen int) ([]byte, bool) {
	if len(b) != 8 {
		return nil, false
	}
	n := bytes.IndexByte(b, 0xFF)
	if n < 0 {
		n = 8
	}
	for _, x := range b[n:] {
		if x != 0xFF {
			return nil, false
		}
	}
	v := b[:n]
	if len(v) < minLen {
		return nil, false
	}
	for _, x := range v {
		if x < 0x20 || x > 0x7E {
			return nil, false
		}
	}
	return v, true
}

// check compares candidate with the reference data and counts the try.
// It returns 9000, 63Cx (x tries left) or 6983 (blocked).
func (c *Card) check(candidate, ref []byte, tries *int) apdu.Response {
	if *tries <= 0 {
		return sw(apdu.ErrAuthBlocked)
	}
	if len(candidate) == len(ref) && subtle.ConstantTimeCompare(candidate, ref) == 1 {
		if *tries != MaxTries {
			*tries = MaxTries
			c.save()
		}
		return apdu.Response{SW: apdu.SWOK}
	}
	*tries--
	c.save()
	return apdu.Response{SW: uint16(apdu.ErrWrongPIN) | uint16(*tries)}
}

func (c *Card) verify(cmd apdu.Command) apdu.Response {
	if cmd.P2 != keyRefPIN {
		return sw(apdu.ErrRefDataNotFound)
	}
	switch cmd.P1 {
	case 0xFF: // reset security status (SP 800-73-4 Part 2 §3.2.1)
		if len(cmd.Data) != 0 {
			return sw(apdu.ErrWrongData)
		}
		c.verified = false
		return apdu.Response{SW: apdu.SWOK}
	case 0x00:
	default:
		return sw(apdu.ErrIncorrectP1P2)
	}
	if len(cmd.Data) == 0 { // status query: no try is used
		switch {
		case c.st.PINTries == 0:
			return sw(apdu.ErrAuthBlocked)
		case c.verified:
			return apdu.Response{SW: apdu.SWOK}
		}
		return apdu.Response{SW: uint16(apdu.ErrWrongPIN) | uint16(c.st.PINTries)}
	}
	pin, ok := parseRefData(cmd.Data, 1)
	if !ok {
		return sw(apdu.ErrWrongData)
	}
	r := c.check(pin, c.st.PIN, &c.st.PINTries)
	c.verified = r.SW == apdu.SWOK
	c.fresh = c.verified
	return r
}

func (c *Card) changeReference(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0 {
		return sw(apdu.ErrIncorrectP1P2)
	}
	if len(cmd.Data) != 16 {
		return sw(apdu.ErrWrongData)
	}
	var ref *[]byte
	var tries *int
	minLen := MinPINLen
	switch cmd.P2 {
	case keyRefPIN:
		ref, tries = &c.st.PIN, &c.st.PINTries
	case keyRefPUK:
		ref, tries, minLen = &c.st.PUK, &c.st.PUKTries, PUKLen
	default:
		return sw(apdu.ErrRefDataNotFound)
	}
	old, ok1 := parseRefData(cmd.Data[:8], 1)
	next, ok2 := parseRefData(cmd.Data[8:], minLen)
	if !ok1 || !ok2 {
		return sw(apdu.ErrWrongData)
	}
	r := c.check(old, *ref, tries)
	if r.SW != apdu.SWOK {
		if cmd.P2 == keyRefPIN {
			c.verified = false
		}
		return r
	}
	*ref = bytes.Clone(next)
	c.save()
	return r
}

func (c *Card) resetRetry(cmd apdu.Command) apdu.Response {
	if cmd.P1 != 0 || cmd.P2 != keyRefPIN {
		return sw(apdu.ErrIncorrectP1P2)
	}
	if len(cmd.Data) != 16 {
		return sw(apdu.ErrWrongData)
	}
	puk, ok1 := parseRefData(cmd.Data[:8], 1)
	pin, ok2 := parseRefData(cmd.Data[8:], MinPINLen)
	if !ok1 || !ok2 {
		return sw(apdu.ErrWrongData)
	}
	r := c.check(puk, c.st.PUK, &c.st.PUKTries)
	if r.SW != apdu.SWOK {
		return r
	}
	c.st.PIN = bytes.Clone(pin)
	c.st.PINTries = MaxTries
	c.verified = false
	c.save()
	return r
}

// generalAuthenticate signs, decrypts or agrees a key with the key in P2
// (SP 800-73-4 Part 2 §3.2.4). The dynamic authentication template 7C
// carries 82 (response requested) and 81 (challenge: a padded RSA block or
// an ECDSA digest) or 85 (an ECDH peer point).
func (c *Card) generalAuthenticate(cmd apdu.Command, fresh bool) apdu.Response {
	slot := Slot(cmd.P2)
	key, err := c.st.Key(slot)
	if err != nil || key == nil {
		return sw(apdu.ErrRefDataNotFound)
	}
	if algorithmOf(key) != cmd.P1 {
		return sw(apdu.ErrIncorrectP1P2)
	}
	switch {
	case slot == SlotCardAuth:
	case slot == SlotSignature && !fresh:
		return sw(apdu.ErrSecurityStatus) // PIN "always": VERIFY right before
	case !c.verified:
		return sw(apdu.ErrSecurityStatus)
	}
	tmpl, ok, err := apdu.Find(cmd.Data, 0x7C)
	if err != nil || !ok {
		return sw(apdu.ErrWrongData)
	}
	objs, err := apdu.ParseAll(tmpl)
	if err != nil {
		return sw(apdu.ErrWrongData)
	}
	var challenge, point []byte
	var wantResponse bool
	for _, o := range objs {
		switch o.Tag {
		case 0x81:
			challenge = o.Value
		case 0x85:
			point = o.Value
		case 0x82:
			wantResponse = len(o.Value) == 0
		}
	}
	if !wantResponse || (challenge == nil) == (point == nil) {
		return sw(apdu.ErrWrongData)
	}
	var out []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if challenge == nil {
			return sw(apdu.ErrWrongData)
		}
		out, ok = rsaRaw(k, challenge)
	case *ecdsa.PrivateKey:
		if challenge != nil {
			out, err = ecdsa.SignASN1(c.rand, k, challenge)
			ok = err == nil && len(challenge) > 0
		} else {
			out, ok = ecdhShared(k, point)
		}
	default:
		ok = false
	}
	if !ok {
		return sw(apdu.ErrWrongData)
	}
	return c.respond(apdu.TLVBytes(0x7C, apdu.TLVBytes(0x82, out)), cmd.Ne)
}

// rsaRaw computes block^d mod n with the CRT: the card's RSA primitive, to
// which the client has already applied PKCS#1 or PSS padding (or which
// returns a padded plaintext for the client to unpad).
func rsaRaw(k *rsa.PrivateKey, block []byte) ([]byte, bool) {
	size := k.Size()
	if len(block) != size || len(k.Primes) != 2 {
		return nil, false
	}
	m := new(big.Int).SetBytes(block)
	if m.Cmp(k.N) >= 0 {
		return nil, false
	}
	k.Precompute()
	p, q := k.Primes[0], k.Primes[1]
	m1 := new(big.Int).Exp(m, k.Precomputed.Dp, p)
	m2 := new(big.Int).Exp(m, k.Precomputed.Dq, q)
	h := m1.Sub(m1, m2)
	h.Mul(h, k.Precomputed.Qinv)
	h.Mod(h, p)
	h.Mul(h, q)
	h.Add(h, m2)
	return h.FillBytes(make([]byte, size)), true
}

func ecdhShared(k *ecdsa.PrivateKey, point []byte) ([]byte, bool) {
	priv, err := k.ECDH()
	if err != nil {
		return nil, false
	}
	peer, err := priv.Curve().NewPublicKey(point)
	if err != nil {
		return nil, false
	}
	secret, err := priv.ECDH(peer)
	return secret, err == nil
}

// save persists the state; a failure is logged, not answered: a real card
// whose EEPROM write fails would answer 6581, but a virtual card whose disk
// is full is a test-machine problem, not a card behaviour to emulate.
func (c *Card) save() {
	if c.path == "" {
		return
	}
	if err := SaveState(c.path, c.st); err != nil {
		c.log.Error("save state", "err", err)
	}
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
