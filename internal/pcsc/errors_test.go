package pcsc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ebfe/scard"
)

func TestWrapMapsReturnCodes(t *testing.T) {
	for _, tc := range []struct {
		code scard.Error
		want error
	}{
		{scard.ErrNoService, ErrNoService},
		{scard.ErrServiceStopped, ErrNoService},
		{scard.ErrNoReadersAvailable, ErrNoReader},
		{scard.ErrNoSmartcard, ErrNoCard},
		{scard.ErrRemovedCard, ErrCardRemoved},
		{scard.ErrResetCard, ErrCardReset},
		{scard.ErrReaderUnavailable, ErrReaderUnavailable},
		{scard.ErrSharingViolation, ErrSharingViolation},
		{scard.ErrUnresponsiveCard, ErrUnresponsiveCard},
		{scard.ErrUnpoweredCard, ErrUnresponsiveCard},
		{scard.ErrUnknownReader, ErrUnknownReader},
		{scard.ErrTimeout, ErrTimeout},
		{scard.ErrInternalError, nil},
	} {
		t.Run(fmt.Sprintf("%08X", uint32(tc.code)), func(t *testing.T) {
			err := fmt.Errorf("outer: %w", wrap("op", tc.code))
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("wrap(%v) = %v, want it to match %v", tc.code, err, tc.want)
			}
			if !errors.Is(err, tc.code) {
				t.Errorf("wrap(%v) = %v, want it to still match the scard code", tc.code, err)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Op != "op" || pe.Code != tc.code {
				t.Errorf("errors.As(wrap(%v)) = %+v, want Op op and the code", tc.code, pe)
			}
			for _, other := range []error{ErrNoService, ErrNoReader, ErrNoCard, ErrCardRemoved, ErrSharingViolation} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("wrap(%v) also matches %v", tc.code, other)
				}
			}
		})
	}
	if wrap("op", nil) != nil {
		t.Errorf("wrap(nil) != nil")
	}
	plain := errors.New("plain")
	if err := wrap("op", plain); !errors.Is(err, plain) {
		t.Errorf("wrap(plain) = %v, want it wrapped", err)
	}
}
