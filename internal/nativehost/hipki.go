package nativehost

import (
	"errors"

	"github.com/cardbridge/cardbridge/internal/hipki"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// hipkiResult is the hipki command's answer: the request in the host's
// terms, or what the page is refused with (its ret_code, and whether the
// page asked for card management or a PIN change, so that the extension
// can say where to go).
type hipkiResult struct {
	Request *hipki.Request `json:"request,omitempty"`
	Refused *hipkiRefusal  `json:"refused,omitempty"`
}

type hipkiRefusal struct {
	RetCode        uint32 `json:"retCode"`
	Reason         string `json:"reason"`
	CardManagement bool   `json:"cardManagement,omitempty"`
	ChangePIN      bool   `json:"changePin,omitempty"`
}

// hipki reads a HiPKI request of origin's page (docs/protocol.md §4.18).
// It translates and gives no power: which sites get the compatibility is
// the extension's decision (the built-in sites, legacySites, its managed
// policy), and a raw signature or a decryption is still allowed only to
// LegacySite or the administrator's lists when it reaches sign or decrypt.
func (n *session) hipki(origin string, a protocol.HiPKIArgs) (any, error) {
	r, err := hipki.Decode(a.Payload, a.Path, a.Query)
	var e *hipki.Error
	if errors.As(err, &e) {
		return hipkiResult{Refused: &hipkiRefusal{RetCode: e.Code, Reason: e.Err.Error(), CardManagement: e.CardManagement, ChangePIN: e.ChangePIN}}, nil
	}
	if err != nil {
		return nil, err
	}
	return hipkiResult{Request: &r}, nil
}
