package card

import (
	"errors"
	"fmt"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// PIN rules of the cards CardBridge serves: 6 to 8 letters or digits (XCA,
// GCA and MOICA cards; MOICA states it at
// https://ee-moica.moi.gov.tw/mdbs/changePin_other.html), PUK exactly 8.
// This is the one definition: the host reports it with the PIN status
// (Rule) and the extension enforces what it is told.
const (
	MinPINLen = 6
	MaxPINLen = 8
	PUKLen    = 8
)

// PINRule is the PIN and PUK rule as the host reports it.
type PINRule struct {
	MinLength int
	MaxLength int
	PUKLength int
	// Characters names the allowed characters: "alnum" is ASCII letters
	// and digits.
	Characters string
}

// Rule is the rule of the cards this package serves.
var Rule = PINRule{MinLength: MinPINLen, MaxLength: MaxPINLen, PUKLength: PUKLen, Characters: "alnum"}

// pinChar reports whether c may appear in a PIN or PUK under Rule.
func pinChar(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// Ref names the reference data a failure is about.
type Ref string

// The two references a PIV card has.
const (
	RefPIN Ref = "PIN"
	RefPUK Ref = "PUK"
)

// ErrPINFormat reports a PIN or PUK the card would refuse anyway; it is
// caught before anything is sent, so no try is used.
var ErrPINFormat = errors.New("PIN must be 6 to 8 characters (PUK 8), letters and digits")

// AuthError is a refused PIN or PUK: TriesLeft tries remain, and Blocked is
// true when none do. It wraps the card's status word.
type AuthError struct {
	Ref       Ref
	TriesLeft int
	Blocked   bool
	Err       error
}

func (e *AuthError) Error() string {
	if e.Blocked {
		return fmt.Sprintf("%s blocked", e.Ref)
	}
	return fmt.Sprintf("wrong %s, %d tries left", e.Ref, e.TriesLeft)
}

// Unwrap returns the card's status word.
func (e *AuthError) Unwrap() error { return e.Err }

// authError turns 63Cx and 6983 into *AuthError; other errors pass.
func authError(ref Ref, err error) error {
	var st apdu.Status
	if !errors.As(err, &st) {
		return err
	}
	if n, ok := st.TriesLeft(); ok {
		return &AuthError{Ref: ref, TriesLeft: n, Blocked: n == 0, Err: err}
	}
	if errors.Is(st, apdu.ErrAuthBlocked) {
		return &AuthError{Ref: ref, Blocked: true, Err: err}
	}
	return err
}

// padRef checks v and pads it with 0xFF to the 8 bytes PIV expects. The
// caller clears the result after use.
func padRef(v []byte, minLen, maxLen int) ([]byte, error) {
	if len(v) < minLen || len(v) > maxLen {
		return nil, ErrPINFormat
	}
	out := []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
	for i, c := range v {
		if !pinChar(c) {
			clear(out)
			return nil, ErrPINFormat
		}
		out[i] = c
	}
	return out, nil
}

// checkFormat validates PINs and PUKs before any APDU (or transaction) is
// sent, so a malformed one never reaches the card.
func checkFormat(pins ...[]byte) error {
	for _, v := range pins {
		b, err := padRef(v, MinPINLen, MaxPINLen)
		if err != nil {
			return err
		}
		clear(b)
	}
	return nil
}

func checkPUK(puk []byte) error {
	b, err := padRef(puk, PUKLen, PUKLen)
	if err != nil {
		return err
	}
	clear(b)
	return nil
}

// PINStatus is what the card says about its PIN without using a try.
type PINStatus struct {
	// TriesLeft is -1 when the PIN is currently verified (the card does not
	// then say how many tries remain).
	TriesLeft int
	Blocked   bool
	Verified  bool
}

// PINStatus asks the card with an empty VERIFY, which uses no try.
func (p *PIV) PINStatus() (PINStatus, error) {
	var st PINStatus
	err := p.do("pin status", func() error {
		var err error
		st, err = p.pinStatus()
		return err
	})
	return st, err
}

func (p *PIV) pinStatus() (PINStatus, error) {
	_, err := p.send(apdu.Command{INS: insVerify, P2: refPIN})
	if err == nil {
		return PINStatus{TriesLeft: -1, Verified: true}, nil
	}
	var ae *AuthError
	if errors.As(authError(RefPIN, err), &ae) {
		return PINStatus{TriesLeft: ae.TriesLeft, Blocked: ae.Blocked}, nil
	}
	return PINStatus{}, err
}

// verify sends VERIFY; a wrong PIN uses a try and is never retried here.
func (p *PIV) verify(pin []byte) error {
	b, err := padRef(pin, MinPINLen, MaxPINLen)
	if err != nil {
		return err
	}
	defer clear(b)
	if _, err := p.send(apdu.Command{INS: insVerify, P2: refPIN, Data: b}); err != nil {
		return authError(RefPIN, err)
	}
	return nil
}

// withPIN verifies pin, runs f, and then resets the PIN's security status
// (VERIFY with P1 FF), so the card needs the PIN again for its next key
// operation: no other program on the computer can use the key on the
// strength of this PIN, and PIN status reports tries left again. A card
// without that reset keeps the status until it is reset or removed.
func (p *PIV) withPIN(pin []byte, f func() error) error {
	if err := p.verify(pin); err != nil {
		return err
	}
	defer p.resetPINStatus()
	return f()
}

// resetPINStatus ends the PIN's verified state; failures are ignored (the
// operation itself is what the caller asked about).
func (p *PIV) resetPINStatus() {
	_, _ = p.send(apdu.Command{INS: insVerify, P1: 0xFF, P2: refPIN})
}

// VerifyPIN verifies the PIN. A wrong PIN gives *AuthError with the tries
// left; after the last one the PIN is blocked until unblocked with the PUK.
func (p *PIV) VerifyPIN(pin []byte) error {
	if err := checkFormat(pin); err != nil {
		return err
	}
	return p.do("verify pin", func() error { return p.verify(pin) })
}

// ChangePIN replaces the PIN. A wrong old PIN uses a try like VERIFY.
func (p *PIV) ChangePIN(oldPIN, newPIN []byte) error {
	if err := checkFormat(oldPIN, newPIN); err != nil {
		return err
	}
	return p.do("change pin", func() error {
		defer p.resetPINStatus() // a successful change may leave the PIN verified
		return p.changeRef(refPIN, RefPIN, oldPIN, newPIN, MinPINLen)
	})
}

// ChangePUK replaces the PUK. A wrong old PUK uses a PUK try.
func (p *PIV) ChangePUK(oldPUK, newPUK []byte) error {
	if err := errors.Join(checkPUK(oldPUK), checkPUK(newPUK)); err != nil {
		return ErrPINFormat
	}
	return p.do("change puk", func() error { return p.changeRef(refPUK, RefPUK, oldPUK, newPUK, PUKLen) })
}

func (p *PIV) changeRef(ref byte, name Ref, oldV, newV []byte, minNew int) error {
	maxLen := MaxPINLen
	minOld := MinPINLen
	if ref == refPUK {
		minOld, maxLen = PUKLen, PUKLen
	}
	o, err := padRef(oldV, minOld, maxLen)
	if err != nil {
		return err
	}
	defer clear(o)
	n, err := padRef(newV, minNew, maxLen)
	if err != nil {
		return err
	}
	defer clear(n)
	data := append(append(make([]byte, 0, 16), o...), n...)
	defer clear(data)
	if _, err := p.send(apdu.Command{INS: insChangeRef, P2: ref, Data: data}); err != nil {
		return authError(name, err)
	}
	return nil
}

// UnblockPIN sets a new PIN with the PUK and resets the PIN tries (RESET
// RETRY COUNTER). It is also how a new XCA card is activated (開卡): such a
// card arrives with its PIN blocked. A wrong PUK uses a PUK try.
func (p *PIV) UnblockPIN(puk, newPIN []byte) error {
	if err := errors.Join(checkPUK(puk), checkFormat(newPIN)); err != nil {
		return ErrPINFormat
	}
	return p.do("unblock pin", func() error {
		k, err := padRef(puk, PUKLen, PUKLen)
		if err != nil {
			return err
		}
		defer clear(k)
		n, err := padRef(newPIN, MinPINLen, MaxPINLen)
		if err != nil {
			return err
		}
		defer clear(n)
		data := append(append(make([]byte, 0, 16), k...), n...)
		defer clear(data)
		if _, err := p.send(apdu.Command{INS: insResetRetry, P2: refPIN, Data: data}); err != nil {
			return authError(RefPUK, err)
		}
		p.resetPINStatus()
		return nil
	})
}

// CheckPINFormat reports ErrPINFormat unless every PIN follows Rule. Other
// backends (PKCS#11) call it before a PIN reaches their token, as PIV does
// before any APDU.
func CheckPINFormat(pins ...[]byte) error { return checkFormat(pins...) }

// CheckPUKFormat reports ErrPINFormat unless puk follows Rule's PUK length
// and characters.
func CheckPUKFormat(puk []byte) error { return checkPUK(puk) }
