// Package pcsc owns CardBridge's access to the operating system's smart
// card service (PC/SC: pcsc-lite on Linux and macOS, WinSCard on Windows)
// through github.com/ebfe/scard: contexts, reader lists, waiting for reader
// and card changes, shared connections, transactions and raw APDU exchange.
//
// It turns PC/SC return codes into errors a user can act on (service not
// running, no reader, no card, card removed, reader unavailable, card in use
// by another program) and hides every scard type except the return code.
// It knows nothing about card applications: what the bytes mean belongs to
// internal/card, and command chaining and GET RESPONSE to apdu.Transceive.
//
// It does not log. Waits take a context.Context and are interrupted with
// SCardCancel, never by polling.
package pcsc
