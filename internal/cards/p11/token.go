//go:build cgo

package p11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// FullTries is the PIN tries a token reports when its flags say nothing
// went wrong since the last good PIN: PKCS#11 has no counter, only flags,
// and the cards CardBridge serves allow 3 tries (the protocol's
// ERR_PIN_INCORRECT message says so). The flags map as follows:
//
//	CKF_USER_PIN_LOCKED      blocked, 0 tries
//	CKF_USER_PIN_FINAL_TRY   1 try
//	CKF_USER_PIN_COUNT_LOW   2 tries ("at least one wrong PIN since the last good one")
//	none of them             FullTries; after a wrong PIN, FullTries-1
//
// TriesLeft -1 is never reported for "unknown": it means "verified" in
// card.PINStatus and the protocol. The SO flags map the same way for the
// PUK.
const FullTries = 3

// maxObjects bounds how many objects of one kind are read from a token.
const maxObjects = 1024

// Token is a PKCS#11 token as a cards.Token. It holds one session, opened
// by Backend.Open and closed by the close function Open returns. A PIN
// operation logs in, does its one operation and logs out. miekg/pkcs11
// takes PINs as Go strings, which cannot be cleared: the copy lives until
// the garbage collector reuses it (a known limit of this first slice).
type Token struct {
	b      *Backend
	slot   uint
	reader string

	mu    sync.Mutex
	sh    pkcs11.SessionHandle
	certs []tokenCert
	read  bool
}

var _ cards.Token = (*Token)(nil)

func (t *Token) ctx() *pkcs11.Ctx { return t.b.mod.ctx }

func (t *Token) openSession() error {
	var sh pkcs11.SessionHandle
	err := t.b.call("C_OpenSession", func() (err error) {
		sh, err = t.ctx().OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		return err
	})
	if isCKR(err, pkcs11.CKR_TOKEN_WRITE_PROTECTED) {
		err = t.b.call("C_OpenSession", func() (err error) {
			sh, err = t.ctx().OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION)
			return err
		})
	}
	if err != nil {
		return mapCKR("open "+t.reader, err)
	}
	t.sh = sh
	return nil
}

func (t *Token) close() {
	_ = t.b.call("C_CloseSession", func() error { return t.ctx().CloseSession(t.sh) })
}

// again runs f, a non-PIN operation, and once more in a new session when
// the session was lost. PIN operations never come here: a PIN is never
// sent twice.
func (t *Token) again(f func() error) error {
	err := f()
	if isSessionErr(err) {
		t.close()
		if err := t.openSession(); err != nil {
			return err
		}
		err = f()
	}
	return err
}

// find returns the handles of the objects matching tmpl.
func (t *Token) find(tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.b.call("C_FindObjectsInit", func() error { return t.ctx().FindObjectsInit(t.sh, tmpl) }); err != nil {
		return nil, err
	}
	defer t.b.call("C_FindObjectsFinal", func() error { return t.ctx().FindObjectsFinal(t.sh) })
	var out []pkcs11.ObjectHandle
	for len(out) < maxObjects {
		var hs []pkcs11.ObjectHandle
		err := t.b.call("C_FindObjects", func() (err error) {
			hs, _, err = t.ctx().FindObjects(t.sh, 64)
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	return out, nil
}

// attrs reads attributes of o. miekg/pkcs11 asks the size first and then
// reads into a buffer of that size (the two-call pattern). Some vendor
// modules answer the size wrongly and then return CKR_BUFFER_TOO_SMALL:
// each attribute is then read alone into a generous buffer.
func (t *Token) attrs(o pkcs11.ObjectHandle, types ...uint) ([]*pkcs11.Attribute, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, ty := range types {
		tmpl[i] = pkcs11.NewAttribute(ty, nil)
	}
	var out []*pkcs11.Attribute
	err := t.b.call("C_GetAttributeValue", func() (err error) {
		out, err = t.ctx().GetAttributeValue(t.sh, o, tmpl)
		return err
	})
	if !isCKR(err, pkcs11.CKR_BUFFER_TOO_SMALL) {
		return out, err
	}
	return t.generousAttrs(o, types, err)
}

// generousAttrs reads each attribute alone into a generous buffer; first
// is the error of the two-call pattern, returned when that cannot be done.
func (t *Token) generousAttrs(o pkcs11.ObjectHandle, types []uint, first error) ([]*pkcs11.Attribute, error) {
	out := make([]*pkcs11.Attribute, 0, len(types))
	for _, ty := range types {
		var v []byte
		var ok bool
		err := t.b.call("C_GetAttributeValue", func() (err error) {
			v, ok, err = generousAttr(t.b.mod.path, t.sh, o, ty)
			return err
		})
		if !ok {
			return nil, first
		}
		if err != nil {
			return nil, err
		}
		out = append(out, &pkcs11.Attribute{Type: ty, Value: v})
	}
	return out, nil
}

func valueOf(as []*pkcs11.Attribute, ty uint) []byte {
	for _, a := range as {
		if a.Type == ty {
			return a.Value
		}
	}
	return nil
}

// tokenCerts reads and pairs the token's certificates once per Open.
func (t *Token) tokenCerts() ([]tokenCert, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.read {
		return t.certs, nil
	}
	var objs []certObject
	var keyIDs [][]byte
	err := t.again(func() error {
		objs, keyIDs = nil, nil
		hs, err := t.find([]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
			pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		})
		if err != nil {
			return err
		}
		for _, h := range hs {
			as, err := t.attrs(h, pkcs11.CKA_ID, pkcs11.CKA_VALUE)
			if isSessionErr(err) {
				return err
			}
			if err != nil {
				t.b.log.Info("PKCS#11 certificate skipped", "reader", t.reader, "err", mapCKR("read certificate", err))
				continue
			}
			objs = append(objs, certObject{ID: valueOf(as, pkcs11.CKA_ID), Value: valueOf(as, pkcs11.CKA_VALUE)})
		}
		// A private key may be hidden until login (CKA_PRIVATE); its
		// public key, when the token has one, says the pair is there.
		for _, class := range []uint{pkcs11.CKO_PRIVATE_KEY, pkcs11.CKO_PUBLIC_KEY} {
			hs, err := t.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)})
			if err != nil {
				return err
			}
			for _, h := range hs {
				as, err := t.attrs(h, pkcs11.CKA_ID)
				if isSessionErr(err) {
					return err
				}
				if err == nil {
					keyIDs = append(keyIDs, valueOf(as, pkcs11.CKA_ID))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, mapCKR("read certificates", err)
	}
	certs, notes := pairCertificates(objs, keyIDs)
	for _, n := range notes {
		t.b.log.Info("PKCS#11 certificate skipped", "reader", t.reader, "why", n)
	}
	t.certs, t.read = certs, true
	return certs, nil
}

// Certificates implements card.Token: the certificates whose key is on
// the token. Certificates without a key, with a CKA_ID another
// certificate shares, or that do not parse are skipped with a log line.
func (t *Token) Certificates() ([]card.Certificate, error) {
	tc, err := t.tokenCerts()
	if err != nil {
		return nil, err
	}
	out := make([]card.Certificate, len(tc))
	for i, c := range tc {
		out[i] = c.Certificate
	}
	return out, nil
}

func (t *Token) certFor(id string) (tokenCert, error) {
	certs, err := t.tokenCerts()
	if err != nil {
		return tokenCert{}, err
	}
	for _, c := range certs {
		if c.ID == id {
			return c, nil
		}
	}
	return tokenCert{}, fmt.Errorf("certificate %.16s…: %w", id, card.ErrUnknownCertificate)
}

// Serial implements cards.Token: the token's serial number.
func (t *Token) Serial() string {
	ti, err := t.tokenInfo()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(ti.SerialNumber)
}

func (t *Token) tokenInfo() (pkcs11.TokenInfo, error) {
	var ti pkcs11.TokenInfo
	err := t.b.call("C_GetTokenInfo", func() (err error) {
		ti, err = t.ctx().GetTokenInfo(t.slot)
		return err
	})
	return ti, err
}

// removalGrace bounds how long removed waits for the module to see a
// card that vanished in the middle of a command (pcsc-lite polls readers
// about every 400 ms; internal/pcsc waits as long).
const removalGrace = 1500 * time.Millisecond

// removed reports whether err, an operation's failure the module does not
// name (OpenSC returns CKR_GENERAL_ERROR when a transmit fails because the
// card was pulled, while PC/SC still lists it), came from the token
// leaving its slot within removalGrace. Found by internal/integration
// TestPKCS11CardPulledMidSignature.
func (t *Token) removed(err error) bool {
	if !isCKR(err, pkcs11.CKR_GENERAL_ERROR) && !isCKR(err, pkcs11.CKR_DEVICE_ERROR) && !isCKR(err, pkcs11.CKR_FUNCTION_FAILED) {
		return false
	}
	deadline := time.Now().Add(removalGrace)
	for {
		var si pkcs11.SlotInfo
		serr := t.b.call("C_GetSlotInfo", func() (err error) { si, err = t.ctx().GetSlotInfo(t.slot); return err })
		switch {
		case isCKR(serr, pkcs11.CKR_SLOT_ID_INVALID), isCKR(serr, pkcs11.CKR_DEVICE_REMOVED):
			return true
		case serr != nil:
			return false
		case si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0:
			return true
		case time.Now().After(deadline):
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// triesOf maps the token's flags to tries left (see FullTries); failed
// says a wrong PIN was just given, so a token with no flag set has used
// one try.
func triesOf(flags uint, ref card.Ref, failed bool) (int, bool) {
	locked, final, low := uint(pkcs11.CKF_USER_PIN_LOCKED), uint(pkcs11.CKF_USER_PIN_FINAL_TRY), uint(pkcs11.CKF_USER_PIN_COUNT_LOW)
	if ref == card.RefPUK {
		locked, final, low = pkcs11.CKF_SO_PIN_LOCKED, pkcs11.CKF_SO_PIN_FINAL_TRY, pkcs11.CKF_SO_PIN_COUNT_LOW
	}
	switch {
	case flags&locked != 0:
		return 0, true
	case flags&final != 0:
		return 1, false
	case flags&low != 0, failed:
		return FullTries - 1, false
	}
	return FullTries, false
}

// PINStatus implements card.Token from the token's flags (see FullTries).
// It uses no try.
func (t *Token) PINStatus() (card.PINStatus, error) {
	var ti pkcs11.TokenInfo
	err := t.again(func() (err error) { ti, err = t.tokenInfo(); return err })
	if err != nil {
		return card.PINStatus{}, mapCKR("pin status", err)
	}
	n, blocked := triesOf(ti.Flags, card.RefPIN, false)
	return card.PINStatus{TriesLeft: n, Blocked: blocked}, nil
}

// pinErr maps a refused PIN (ref PIN) or SO PIN (ref PUK) to
// *card.AuthError, with the tries the token's flags give after the
// failure; other errors go through mapCKR.
func (t *Token) pinErr(op string, ref card.Ref, err error) error {
	switch {
	case isCKR(err, pkcs11.CKR_PIN_INCORRECT):
		n, blocked := FullTries-1, false
		if ti, ierr := t.tokenInfo(); ierr == nil {
			n, blocked = triesOf(ti.Flags, ref, true)
		}
		return &card.AuthError{Ref: ref, TriesLeft: n, Blocked: blocked, Err: fmt.Errorf("%s: %w", op, err)}
	case isCKR(err, pkcs11.CKR_PIN_LOCKED):
		return &card.AuthError{Ref: ref, Blocked: true, Err: fmt.Errorf("%s: %w", op, err)}
	}
	return mapCKR(op, err)
}

// withLogin logs in as userType with pin, runs f and logs out. The PIN is
// sent once: a refused PIN is returned, never retried.
func (t *Token) withLogin(userType uint, ref card.Ref, pin []byte, f func() error) error {
	login := func() error {
		return t.b.call("C_Login", func() error { return t.ctx().Login(t.sh, userType, string(pin)) })
	}
	logout := func() error { return t.b.call("C_Logout", func() error { return t.ctx().Logout(t.sh) }) }
	err := login()
	if isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) { // the PIN was not checked: log out first
		_ = logout()
		err = login()
	}
	if err != nil {
		// OpenSC's PIV driver logs the SO in with VERIFY of the PUK
		// (00 20 00 81), which a PIV card refuses with 6A88 (the PUK is
		// never verified alone, only used by RESET RETRY COUNTER); the
		// module reports that as CKR_GENERAL_ERROR, no try used. Found by
		// internal/integration TestPKCS11UnblockPIN.
		if ref == card.RefPUK && (isCKR(err, pkcs11.CKR_USER_TYPE_INVALID) || isCKR(err, pkcs11.CKR_FUNCTION_NOT_SUPPORTED) ||
			isCKR(err, pkcs11.CKR_SESSION_READ_ONLY_EXISTS) || isCKR(err, pkcs11.CKR_SESSION_READ_ONLY) ||
			isCKR(err, pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN) || isCKR(err, pkcs11.CKR_GENERAL_ERROR)) {
			return fmt.Errorf("unblock pin: %w: %w", ErrNoSOLogin, err)
		}
		return t.pinErr("login", ref, err)
	}
	defer logout()
	return f()
}

// contextLogin gives the PIN again, for this one operation, when the key
// is marked CKA_ALWAYS_AUTHENTICATE (PKCS#11 v2.40 §4.9: the operation
// fails with CKR_USER_NOT_LOGGED_IN until the context-specific login,
// which must follow the operation's Init). OpenSC marks a PIV card's
// signature key (9C) so. It is the same PIN the user typed once for this
// operation, sent for the second login the key requires, never a retry: a
// refusal here is returned as it is.
func (t *Token) contextLogin(key pkcs11.ObjectHandle, pin []byte) error {
	as, err := t.attrs(key, pkcs11.CKA_ALWAYS_AUTHENTICATE)
	if err != nil {
		return nil // not readable: treated as not set, as most modules do
	}
	if v := valueOf(as, pkcs11.CKA_ALWAYS_AUTHENTICATE); len(v) != 1 || v[0] == 0 {
		return nil
	}
	err = t.b.call("C_Login", func() error { return t.ctx().Login(t.sh, pkcs11.CKU_CONTEXT_SPECIFIC, string(pin)) })
	if err != nil {
		return t.pinErr("context login", card.RefPIN, err)
	}
	return nil
}

// privateKey finds the private key with ckaID (after login).
func (t *Token) privateKey(ckaID []byte) (pkcs11.ObjectHandle, error) {
	hs, err := t.find([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, ckaID),
	})
	if err != nil {
		return 0, mapCKR("find key", err)
	}
	if len(hs) != 1 {
		return 0, fmt.Errorf("%d private keys for the certificate: %w", len(hs), card.ErrUnknownCertificate)
	}
	return hs[0], nil
}

// hashMech names h as a PKCS#11 digest mechanism and MGF1 function.
func hashMech(h crypto.Hash) (mech, mgf uint, ok bool) {
	switch h {
	case crypto.SHA1:
		return pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, true
	case crypto.SHA256:
		return pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, true
	case crypto.SHA384:
		return pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, true
	case crypto.SHA512:
		return pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512, true
	}
	return 0, 0, false
}

// VerifyPIN implements card.Token: one login and logout.
func (t *Token) VerifyPIN(pin []byte) error {
	if err := card.CheckPINFormat(pin); err != nil {
		return err
	}
	return t.withLogin(pkcs11.CKU_USER, card.RefPIN, pin, func() error { return nil })
}

// Sign implements card.Token: RSA PKCS#1 v1.5 (CKM_RSA_PKCS over the
// DigestInfo), RSA-PSS when opts is *rsa.PSSOptions (CKM_RSA_PKCS_PSS),
// ECDSA (CKM_ECDSA over the digest, returned as ASN.1 DER as
// crypto.Signer promises).
func (t *Token) Sign(id string, digest []byte, opts crypto.SignerOpts, pin []byte) ([]byte, error) {
	if err := card.CheckPINFormat(pin); err != nil {
		return nil, err
	}
	c, err := t.certFor(id)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("sign: digest of %d bytes for %v: %w", len(digest), h, card.ErrUnsupported)
	}
	var mech *pkcs11.Mechanism
	input := digest
	ecSize := 0
	switch pub := c.Cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			hm, mgf, ok := hashMech(pss.Hash)
			if !ok || len(digest) != pss.Hash.Size() {
				return nil, fmt.Errorf("sign: pss with %v: %w", pss.Hash, card.ErrUnsupported)
			}
			salt := pss.SaltLength
			switch salt {
			case rsa.PSSSaltLengthEqualsHash:
				salt = pss.Hash.Size()
			case rsa.PSSSaltLengthAuto:
				salt = (pub.N.BitLen()-1+7)/8 - 2 - pss.Hash.Size()
			}
			if salt < 0 {
				return nil, fmt.Errorf("sign: pss salt: %w", card.ErrUnsupported)
			}
			mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(hm, mgf, uint(salt)))
		} else {
			if input, err = card.DigestInfo(h, digest); err != nil {
				return nil, fmt.Errorf("sign: %w", err)
			}
			mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
		}
	case *ecdsa.PublicKey:
		if _, pss := opts.(*rsa.PSSOptions); pss || len(digest) == 0 {
			return nil, fmt.Errorf("sign: %w", card.ErrUnsupported)
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)
		ecSize = (pub.Curve.Params().BitSize + 7) / 8
	default:
		return nil, fmt.Errorf("sign: key type %T: %w", pub, card.ErrUnsupported)
	}
	var sig []byte
	err = t.withLogin(pkcs11.CKU_USER, card.RefPIN, pin, func() error {
		key, err := t.privateKey(c.ckaID)
		if err != nil {
			return err
		}
		if err := t.b.call("C_SignInit", func() error { return t.ctx().SignInit(t.sh, []*pkcs11.Mechanism{mech}, key) }); err != nil {
			return mapCKR("sign", err)
		}
		if err := t.contextLogin(key, pin); err != nil {
			return err
		}
		err = t.b.call("C_Sign", func() (err error) { sig, err = t.ctx().Sign(t.sh, input); return err })
		if err != nil && t.removed(err) {
			return fmt.Errorf("sign: %w: %w", pcsc.ErrCardRemoved, err)
		}
		return mapCKR("sign", err)
	})
	if err != nil {
		return nil, err
	}
	if ecSize > 0 {
		return ecdsaDER(sig, ecSize)
	}
	return sig, nil
}

// ecdsaDER turns the r‖s a PKCS#11 module returns into the ASN.1
// signature crypto.Signer returns.
func ecdsaDER(rs []byte, size int) ([]byte, error) {
	if len(rs) != 2*size {
		return nil, fmt.Errorf("sign: token returned an ECDSA signature of %d bytes, want %d", len(rs), 2*size)
	}
	r, s := new(big.Int).SetBytes(rs[:size]), new(big.Int).SetBytes(rs[size:])
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil, fmt.Errorf("sign: token returned a zero ECDSA signature")
	}
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// Decrypt implements card.Token with the RSA key of certificate id:
// PKCS#1 v1.5 (CKM_RSA_PKCS; opts nil or *rsa.PKCS1v15DecryptOptions
// without SessionKeyLen, which is not supported here) or OAEP
// (CKM_RSA_PKCS_OAEP; *rsa.OAEPOptions, SHA-1, SHA-256, SHA-384 or
// SHA-512). A module that refuses OAEP with the hash asked (SoftHSM2
// does SHA-1 only) gets the raw RSA operation (CKM_RSA_X_509), and the
// OAEP decoding is done here by card.DecodeDecrypted.
func (t *Token) Decrypt(id string, ciphertext []byte, opts crypto.DecrypterOpts, pin []byte) ([]byte, error) {
	if err := card.CheckPINFormat(pin); err != nil {
		return nil, err
	}
	c, err := t.certFor(id)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	pub, ok := c.Cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("decrypt: %w", card.ErrUnsupported)
	}
	if len(ciphertext) != pub.Size() || new(big.Int).SetBytes(ciphertext).Cmp(pub.N) >= 0 {
		return nil, fmt.Errorf("decrypt: %w", card.ErrDecrypt)
	}
	var mech *pkcs11.Mechanism
	switch o := opts.(type) {
	case nil:
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	case *rsa.PKCS1v15DecryptOptions:
		if o != nil && o.SessionKeyLen > 0 {
			return nil, fmt.Errorf("decrypt: session key length: %w", card.ErrUnsupported)
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	case *rsa.OAEPOptions:
		hm, _, ok := hashMech(o.Hash)
		mgfH := o.MGFHash
		if mgfH == 0 {
			mgfH = o.Hash
		}
		_, mgf, ok2 := hashMech(mgfH)
		if !ok || !ok2 {
			return nil, fmt.Errorf("decrypt: oaep with %v: %w", o.Hash, card.ErrUnsupported)
		}
		var src uint
		if len(o.Label) > 0 {
			src = pkcs11.CKZ_DATA_SPECIFIED
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(hm, mgf, src, o.Label))
	default:
		return nil, fmt.Errorf("decrypt: options %T: %w", opts, card.ErrUnsupported)
	}
	_, oaep := opts.(*rsa.OAEPOptions)
	var pt []byte
	err = t.withLogin(pkcs11.CKU_USER, card.RefPIN, pin, func() error {
		key, err := t.privateKey(c.ckaID)
		if err != nil {
			return err
		}
		raw := false
		err = t.b.call("C_DecryptInit", func() error { return t.ctx().DecryptInit(t.sh, []*pkcs11.Mechanism{mech}, key) })
		if oaep && (isCKR(err, pkcs11.CKR_ARGUMENTS_BAD) || isCKR(err, pkcs11.CKR_MECHANISM_PARAM_INVALID) || isCKR(err, pkcs11.CKR_MECHANISM_INVALID)) {
			// The module does not do OAEP with this hash (SoftHSM2 does
			// SHA-1 only): the raw RSA operation, decoded here.
			raw = true
			err = t.b.call("C_DecryptInit", func() error {
				return t.ctx().DecryptInit(t.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)}, key)
			})
		}
		if err != nil {
			return mapCKR("decrypt", err)
		}
		if err := t.contextLogin(key, pin); err != nil {
			return err
		}
		err = t.b.call("C_Decrypt", func() (err error) { pt, err = t.ctx().Decrypt(t.sh, ciphertext); return err })
		if err != nil {
			// A failure of the operation itself says only "does not
			// decrypt" (RFC 8017 §7.2.2 note); SoftHSM2 reports bad
			// padding as CKR_GENERAL_ERROR.
			if isCKR(err, pkcs11.CKR_FUNCTION_FAILED) || isCKR(err, pkcs11.CKR_GENERAL_ERROR) || isCKR(err, pkcs11.CKR_DATA_INVALID) || isCKR(err, pkcs11.CKR_DATA_LEN_RANGE) {
				return fmt.Errorf("decrypt: %w: %w", card.ErrDecrypt, err)
			}
			return mapCKR("decrypt", err)
		}
		if raw {
			em := make([]byte, pub.Size())
			if len(pt) > len(em) {
				clear(pt)
				return fmt.Errorf("decrypt: %w", card.ErrDecrypt)
			}
			copy(em[len(em)-len(pt):], pt)
			clear(pt)
			defer clear(em)
			if pt, err = card.DecodeDecrypted(em, opts); err != nil {
				return fmt.Errorf("decrypt: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pt, nil
}

// ChangePIN implements card.Token with C_SetPIN. A wrong old PIN uses a
// try, as a wrong PIN does.
func (t *Token) ChangePIN(oldPIN, newPIN []byte) error {
	if err := card.CheckPINFormat(oldPIN, newPIN); err != nil {
		return err
	}
	err := t.b.call("C_SetPIN", func() error { return t.ctx().SetPIN(t.sh, string(oldPIN), string(newPIN)) })
	if isCKR(err, pkcs11.CKR_DATA_INVALID) {
		// Not a C_SetPIN return value in the standard, but OpenSC's PIV
		// driver returns it, before any APDU, for a PIN that card.Rule
		// allows and PIV does not (letters: PIV PINs are digits). Found
		// by internal/integration TestPKCS11ChangePIN.
		return fmt.Errorf("change pin: %w: %w", card.ErrPINFormat, err)
	}
	if err != nil {
		return t.pinErr("change pin", card.RefPIN, err)
	}
	return nil
}

// UnblockPIN implements card.Token: it logs in as the security officer
// with the PUK and sets the new PIN (C_InitPIN). A token that refuses SO
// login returns ErrNoSOLogin; a wrong PUK is *card.AuthError{Ref: PUK}.
func (t *Token) UnblockPIN(puk, newPIN []byte) error {
	if err := card.CheckPUKFormat(puk); err != nil {
		return err
	}
	if err := card.CheckPINFormat(newPIN); err != nil {
		return err
	}
	return t.withLogin(pkcs11.CKU_SO, card.RefPUK, puk, func() error {
		err := t.b.call("C_InitPIN", func() error { return t.ctx().InitPIN(t.sh, string(newPIN)) })
		return mapCKR("unblock pin", err)
	})
}
