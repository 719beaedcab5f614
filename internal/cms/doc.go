// Package cms owns CardBridge's Cryptographic Message Syntax (RFC 5652):
// detached SignedData with the signed attributes Taiwan's government
// verifiers read (signingTime, a random nonce, the card's serial number),
// and, for the document exchange, EnvelopedData. It builds on
// github.com/smallstep/pkcs7 and sets every algorithm explicitly instead of
// relying on the library's defaults.
//
// It signs with any crypto.Signer (a card key is internal/card.Key); it
// never reaches a card, asks for a PIN or knows the wire protocol.
package cms
