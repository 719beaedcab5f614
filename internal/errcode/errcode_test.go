package errcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cardbridge/cardbridge/internal/apdu"
	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/cards"
	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/pcsc"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

func TestMap(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("sign: general authenticate 9A: %w", err) }
	for _, tc := range []struct {
		err     error
		want    protocol.Code
		details map[string]any
	}{
		{nil, "", nil},
		{wrapped(pcsc.ErrNoService), protocol.ErrNoService, nil},
		{wrapped(pcsc.ErrNoReader), protocol.ErrNoReader, nil},
		{wrapped(pcsc.ErrUnknownReader), protocol.ErrNoReader, nil},
		{wrapped(pcsc.ErrNoCard), protocol.ErrNoCard, nil},
		{wrapped(pcsc.ErrCardRemoved), protocol.ErrCardRemoved, nil},
		{wrapped(pcsc.ErrCardReset), protocol.ErrCardReset, nil},
		{wrapped(pcsc.ErrReaderUnavailable), protocol.ErrReaderUnavailable, nil},
		{wrapped(pcsc.ErrSharingViolation), protocol.ErrCardInUse, nil},
		{wrapped(pcsc.ErrUnresponsiveCard), protocol.ErrCardUnresponsive, nil},
		{wrapped(card.ErrNotPIV), protocol.ErrUnsupportedCard, nil},
		{wrapped(&card.AuthError{Ref: card.RefPIN, TriesLeft: 2, Err: apdu.Status(0x63C2)}), protocol.ErrPINIncorrect, map[string]any{"triesLeft": 2, "reference": "PIN"}},
		{wrapped(&card.AuthError{Ref: card.RefPIN, Blocked: true, Err: apdu.ErrAuthBlocked}), protocol.ErrPINBlocked, map[string]any{"triesLeft": 0, "reference": "PIN"}},
		{wrapped(&card.AuthError{Ref: card.RefPUK, TriesLeft: 1}), protocol.ErrPUKIncorrect, map[string]any{"triesLeft": 1, "reference": "PUK"}},
		{wrapped(&card.AuthError{Ref: card.RefPUK, Blocked: true}), protocol.ErrPUKBlocked, map[string]any{"triesLeft": 0, "reference": "PUK"}},
		{wrapped(card.ErrPINFormat), protocol.ErrPINFormat, nil},
		{wrapped(card.ErrUnknownCertificate), protocol.ErrUnknownCertificate, nil},
		{wrapped(card.ErrUnsupported), protocol.ErrUnsupportedAlg, nil},
		{wrapped(cards.ErrRawNeedsRSA), protocol.ErrUnsupportedAlg, map[string]any{"hint": "format cms"}},
		{wrapped(&cards.UsageError{Op: cards.CapDecrypt, Usage: certinfo.UsageSignature}), protocol.ErrCertificateUsage, map[string]any{"usage": "signature"}},
		{wrapped(card.ErrDecrypt), protocol.ErrDecryptFailed, nil},
		{wrapped(cards.ErrUnblockElsewhere), protocol.ErrUnblockElsewhere, nil},
		{wrapped(cards.ErrAmbiguousCertificate), protocol.ErrCertificateAmbiguous, nil},
		{wrapped(cards.ErrKeyMismatch), protocol.ErrUnsupportedCard, map[string]any{"reason": "the card's key does not match its certificate"}},
		{wrapped(cards.ErrClientNeeded), protocol.ErrHiCOSClientNeeded, map[string]any{"download": "https://moica.nat.gov.tw/download_1.html"}},
		{wrapped(context.DeadlineExceeded), protocol.ErrTimeout, nil},
		{wrapped(pcsc.ErrTimeout), protocol.ErrTimeout, nil},
		{wrapped(context.Canceled), protocol.ErrCancelled, nil},
		{wrapped(apdu.ErrNotFound), protocol.ErrInternal, nil},
		{errors.New("anything else"), protocol.ErrInternal, nil},
		{io.EOF, protocol.ErrInternal, nil},
		// Protocol errors pass unchanged, whatever they wrap.
		{&protocol.Error{Code: protocol.ErrBusy, Err: card.ErrUnknownCertificate}, protocol.ErrBusy, nil},
		{&protocol.FrameError{Size: 0, Resynced: true, Err: protocol.ErrFrameEmpty}, protocol.ErrBadMessage, nil},
	} {
		mapped := Map(tc.err)
		assert.Equal(t, tc.want, protocol.CodeFor(mapped), "code of %v", tc.err)
		assert.Equal(t, tc.want, Code(tc.err), "Code(%v)", tc.err)
		if tc.want != protocol.ErrBadMessage {
			assert.Equal(t, tc.details, protocol.Details(mapped), "details of %v", tc.err)
		}
		if tc.err != nil {
			assert.ErrorIs(t, mapped, tc.err, "Map keeps the cause of %v reachable", tc.err)
		}
	}
}

// Every code a domain error maps to is a documented protocol code.
func TestMapCodesDocumented(t *testing.T) {
	for _, err := range []error{pcsc.ErrNoService, card.ErrPINFormat, cards.ErrRawNeedsRSA, &cards.UsageError{}, &card.AuthError{Ref: card.RefPUK}} {
		code := Code(err)
		_, ok := protocol.Messages[code]
		assert.True(t, ok, "code %s of %v has a message", code, err)
	}
}
