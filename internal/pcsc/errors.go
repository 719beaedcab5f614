package pcsc

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"
)

// Failures a user can act on. Every error this package returns matches one
// of them with errors.Is, or none when the cause is internal to PC/SC.
var (
	// ErrNoService: the smart card service (pcscd, or Windows' "Smart Card"
	// service SCardSvr) is not running.
	ErrNoService = errors.New("smart card service not running")
	// ErrNoReader: no reader is connected.
	ErrNoReader = errors.New("no smart card reader")
	// ErrNoCard: the reader is empty.
	ErrNoCard = errors.New("no card in the reader")
	// ErrCardRemoved: the card was pulled while in use.
	ErrCardRemoved = errors.New("card removed")
	// ErrCardReset: another program reset the card; the application must be
	// selected again before the next command.
	ErrCardReset = errors.New("card was reset")
	// ErrReaderUnavailable: the reader was unplugged or stopped answering.
	ErrReaderUnavailable = errors.New("reader unavailable")
	// ErrSharingViolation: another program holds the card exclusively.
	ErrSharingViolation = errors.New("card in use by another program")
	// ErrUnresponsiveCard: the card does not answer reset (inserted upside
	// down, dirty contacts, or not a smart card).
	ErrUnresponsiveCard = errors.New("card does not respond")
	// ErrUnknownReader: the named reader does not exist (any more).
	ErrUnknownReader = errors.New("unknown reader")
	// ErrTimeout: a wait ended without a change.
	ErrTimeout = errors.New("timed out")
)

// Error is a PC/SC failure: the operation, the PC/SC return code, and the
// actionable kind above it maps to.
type Error struct {
	Op   string
	Code scard.Error
	kind error
}

func (e *Error) Error() string {
	if e.kind != nil {
		return fmt.Sprintf("pcsc: %s: %v (%08X)", e.Op, e.kind, uint32(e.Code))
	}
	return fmt.Sprintf("pcsc: %s: %v", e.Op, e.Code)
}

// Unwrap returns both the actionable kind and the raw return code, so
// errors.Is works with the sentinels above and with scard's values.
func (e *Error) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Code}
	}
	return []error{e.kind, e.Code}
}

// kindOf maps PC/SC return codes onto the sentinels. Unlisted codes have no
// kind and surface as internal errors.
func kindOf(code scard.Error) error {
	switch code {
	case scard.ErrNoService, scard.ErrServiceStopped:
		return ErrNoService
	case scard.ErrNoReadersAvailable:
		return ErrNoReader
	case scard.ErrNoSmartcard:
		return ErrNoCard
	case scard.ErrRemovedCard:
		return ErrCardRemoved
	case scard.ErrResetCard:
		return ErrCardReset
	case scard.ErrReaderUnavailable:
		return ErrReaderUnavailable
	case scard.ErrSharingViolation:
		return ErrSharingViolation
	case scard.ErrUnresponsiveCard, scard.ErrUnpoweredCard, scard.ErrUnsupportedCard:
		return ErrUnresponsiveCard
	case scard.ErrUnknownReader:
		return ErrUnknownReader
	case scard.ErrTimeout:
		return ErrTimeout
	}
	return nil
}

// wrap turns a scard error into an *Error; other errors pass through.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var code scard.Error
	if !errors.As(err, &code) {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	return &Error{Op: op, Code: code, kind: kindOf(code)}
}
