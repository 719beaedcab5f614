// Package vpcd owns the wire of the vsmartcard virtual reader protocol: a
// two-byte big-endian length before every message, one-byte control codes
// from the reader (power off, power on, reset, get ATR) and command APDUs
// answered by response APDUs. The virtual TEST card (internal/softcard)
// speaks the card's side; the direct virtual reader (Dial) speaks the
// reader's side, for computers without a smart-card service.
//
// It holds no card logic and no test certificates, so the host may link it
// without linking the virtual card.
//
// Reference: the vsmartcard project's vpcd documentation,
// https://frankmorgner.github.io/vsmartcard/virtualsmartcard/api.html
package vpcd
