// Package errcode is the edge where the errors of CardBridge's domain
// packages (PC/SC, the card, the card manager; the document exchange next)
// become the protocol's stable codes. It is the one place that knows both
// sides: the domain packages never import the wire package, and the wire
// package knows only its own errors. The native-messaging host and the
// command line map every error through Map before they show or send it.
package errcode

import (
	"errors"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Map returns err as a *protocol.Error carrying the code and details of
// the domain error in it. Errors the protocol already knows (its own
// *protocol.Error and frame errors) and errors no domain claims (which
// protocol.CodeFor reports as a timeout, a cancellation or an internal
// error) are returned unchanged.
func Map(err error) error {
	var pe *protocol.Error
	var fe *protocol.FrameError
	if err == nil || errors.As(err, &pe) || errors.As(err, &fe) {
		return err
	}
	code, details := classify(err)
	if code == "" {
		return err
	}
	return &protocol.Error{Code: code, Details: details, Err: err}
}

// classify finds the domain error in err. Order matters: the most specific
// error first (a usage error before the unsupported-algorithm error it may
// wrap; PC/SC's own timeout before a context's).
func classify(err error) (protocol.Code, map[string]any) {
	var ae *card.AuthError
	var ue *cards.UsageError
	switch {
	case errors.As(err, &ue):
		return protocol.ErrCertificateUsage, map[string]any{"usage": string(ue.Usage)}
	case errors.As(err, &ae):
		details := map[string]any{"triesLeft": ae.TriesLeft, "reference": string(ae.Ref)}
		switch {
		case ae.Ref == card.RefPUK && ae.Blocked:
			return protocol.ErrPUKBlocked, details
		case ae.Ref == card.RefPUK:
			return protocol.ErrPUKIncorrect, details
		case ae.Blocked:
			return protocol.ErrPINBlocked, details
		}
		return protocol.ErrPINIncorrect, details
	case errors.Is(err, card.ErrPINFormat):
		return protocol.ErrPINFormat, nil
	case errors.Is(err, cards.ErrUnblockElsewhere):
		return protocol.ErrUnblockElsewhere, nil
	case errors.Is(err, cards.ErrKeyMismatch):
		return protocol.ErrUnsupportedCard, map[string]any{"reason": "the card's key does not match its certificate"}
	case errors.Is(err, cards.ErrAmbiguousCertificate):
		return protocol.ErrCertificateAmbiguous, nil
	case errors.Is(err, cards.ErrClientNeeded):
		return protocol.ErrHiCOSClientNeeded, map[string]any{"download": "https://moica.nat.gov.tw/download_1.html"}
	case errors.Is(err, pcsc.ErrNoService):
		return protocol.ErrNoService, nil
	case errors.Is(err, pcsc.ErrNoReader), errors.Is(err, pcsc.ErrUnknownReader):
		return protocol.ErrNoReader, nil
	case errors.Is(err, pcsc.ErrNoCard):
		return protocol.ErrNoCard, nil
	case errors.Is(err, pcsc.ErrCardRemoved):
		return protocol.ErrCardRemoved, nil
	case errors.Is(err, pcsc.ErrCardReset):
		return protocol.ErrCardReset, nil
	case errors.Is(err, pcsc.ErrReaderUnavailable):
		return protocol.ErrReaderUnavailable, nil
	case errors.Is(err, pcsc.ErrSharingViolation):
		return protocol.ErrCardInUse, nil
	case errors.Is(err, pcsc.ErrUnresponsiveCard):
		return protocol.ErrCardUnresponsive, nil
	case errors.Is(err, card.ErrNotPIV):
		return protocol.ErrUnsupportedCard, nil
	case errors.Is(err, card.ErrUnknownCertificate):
		return protocol.ErrUnknownCertificate, nil
	case errors.Is(err, cards.ErrRawNeedsRSA):
		return protocol.ErrUnsupportedAlg, map[string]any{"hint": "format cms"}
	case errors.Is(err, card.ErrUnsupported):
		return protocol.ErrUnsupportedAlg, nil
	case errors.Is(err, card.ErrDecrypt):
		return protocol.ErrDecryptFailed, nil
	case errors.Is(err, pcsc.ErrTimeout):
		return protocol.ErrTimeout, nil
	}
	return "", nil
}

// Code returns the code of err after mapping.
func Code(err error) protocol.Code { return protocol.CodeFor(Map(err)) }
