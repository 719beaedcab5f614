package apdu

import (
	"fmt"
)

// Status is an ISO 7816-4 status word (SW1 SW2) that is not success. It is
// the error type of every card refusal, so callers use errors.Is against the
// sentinels below and errors.As to read the word itself (for example the
// tries left of a wrong PIN).
type Status uint16

// Status words with a meaning the rest of CardBridge acts on
// (ISO 7816-4 §5.6, Table 6; NIST SP 800-73-4 Part 2 §3).
const (
	// ErrWrongPIN matches every 63Cx: verification failed, x tries left.
	ErrWrongPIN Status = 0x63C0
	// ErrWrongLength: 6700, wrong Lc or Le.
	ErrWrongLength Status = 0x6700
	// ErrSecurityStatus: 6982, security status not satisfied (PIN not verified).
	ErrSecurityStatus Status = 0x6982
	// ErrAuthBlocked: 6983, authentication method blocked (no tries left).
	ErrAuthBlocked Status = 0x6983
	// ErrRefDataNotUsable: 6984, reference data not usable.
	ErrRefDataNotUsable Status = 0x6984
	// ErrConditions: 6985, conditions of use not satisfied.
	ErrConditions Status = 0x6985
	// ErrWrongData: 6A80, incorrect parameters in the command data field.
	ErrWrongData Status = 0x6A80
	// ErrFuncNotSupported: 6A81, function not supported.
	ErrFuncNotSupported Status = 0x6A81
	// ErrNotFound: 6A82, file or application (or PIV data object) not found.
	ErrNotFound Status = 0x6A82
	// ErrNoSpace: 6A84, not enough memory space in the file.
	ErrNoSpace Status = 0x6A84
	// ErrIncorrectP1P2: 6A86, incorrect parameters P1-P2.
	ErrIncorrectP1P2 Status = 0x6A86
	// ErrRefDataNotFound: 6A88, referenced data or key not found.
	ErrRefDataNotFound Status = 0x6A88
	// ErrInsNotSupported: 6D00, instruction not supported or invalid (also
	// what a PIV card answers before its application is selected).
	ErrInsNotSupported Status = 0x6D00
	// ErrClaNotSupported: 6E00, class not supported.
	ErrClaNotSupported Status = 0x6E00
	// ErrUnknown: 6F00, no precise diagnosis.
	ErrUnknown Status = 0x6F00
)

// SW values of success and of the two length-negotiation families that the
// transport layer handles itself (ISO 7816-4 §5.6 and §7.1.3).
const (
	SWOK          = 0x9000
	SW1MoreData   = 0x61 // 61xx: xx more bytes with GET RESPONSE
	SW1WrongLe    = 0x6C // 6Cxx: repeat the command with Le = xx
	SW1Warning    = 0x62 // 62xx, 63xx: warnings with data
	SW1WarningNVM = 0x63
)

// Error implements error with the status word and a short English meaning.
func (s Status) Error() string {
	return fmt.Sprintf("card status %04X (%s)", uint16(s), s.meaning())
}

// Is makes ErrWrongPIN match the whole 63Cx family and every other sentinel
// match its exact word.
func (s Status) Is(target error) bool {
	t, ok := target.(Status)
	if !ok {
		return false
	}
	if t == ErrWrongPIN {
		return s&0xFFF0 == 0x63C0
	}
	return s == t
}

// TriesLeft returns x of a 63Cx word, and false for every other word.
func (s Status) TriesLeft() (int, bool) {
	if s&0xFFF0 != 0x63C0 {
		return 0, false
	}
	return int(s & 0x000F), true
}

func (s Status) meaning() string {
	if n, ok := s.TriesLeft(); ok {
		return fmt.Sprintf("verification failed, %d tries left", n)
	}
	switch s {
	case ErrWrongLength:
		return "wrong length"
	case ErrSecurityStatus:
		return "security status not satisfied"
	case ErrAuthBlocked:
		return "authentication method blocked"
	case ErrRefDataNotUsable:
		return "reference data not usable"
	case ErrConditions:
		return "conditions of use not satisfied"
	case ErrWrongData:
		return "incorrect data"
	case ErrFuncNotSupported:
		return "function not supported"
	case ErrNotFound:
		return "not found"
	case ErrNoSpace:
		return "not enough memory"
	case ErrIncorrectP1P2:
		return "incorrect P1-P2"
	case ErrRefDataNotFound:
		return "referenced data not found"
	case ErrInsNotSupported:
		return "instruction not supported"
	case ErrClaNotSupported:
		return "class not supported"
	case ErrUnknown:
		return "no precise diagnosis"
	}
	switch s >> 8 {
	case 0x62, 0x63:
		return "warning"
	case 0x64, 0x65, 0x66:
		return "execution error"
	case 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F:
		return "checking error"
	}
	return "unknown"
}
