//go:build cgo

package p11

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/cardbridge/cardbridge/internal/card"
	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// mapCKR turns a module's return value into the typed error the edge
// knows, keeping the pkcs11.Error (whose text names the CKR) in the
// chain. PIN failures are mapped by Token.pinErr, which also reads the
// token's flags; here they become card.ErrPINFormat only when the module
// says the PIN's form is wrong.
func mapCKR(op string, err error) error {
	if err == nil {
		return nil
	}
	var te *TimeoutError
	var e pkcs11.Error
	if errors.As(err, &te) || !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var kind error
	switch uint(e) {
	case pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		kind = card.ErrPINFormat
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID:
		kind = pcsc.ErrNoCard
	case pkcs11.CKR_DEVICE_REMOVED:
		kind = pcsc.ErrCardRemoved
	case pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE:
		kind = card.ErrDecrypt
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_KEY_TYPE_INCONSISTENT,
		pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED, pkcs11.CKR_KEY_SIZE_RANGE, pkcs11.CKR_FUNCTION_NOT_SUPPORTED:
		kind = card.ErrUnsupported
	}
	if kind == nil {
		return fmt.Errorf("%s: %w", op, e)
	}
	return fmt.Errorf("%s: %w: %w", op, kind, e)
}

// isSessionErr reports a lost session, which a non-PIN operation retries
// once in a new one.
func isSessionErr(err error) bool {
	return isCKR(err, pkcs11.CKR_SESSION_HANDLE_INVALID) || isCKR(err, pkcs11.CKR_SESSION_CLOSED)
}
