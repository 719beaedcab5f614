// Package softcard is CardBridge's virtual smart card: a software PIV card
// (NIST SP 800-73-4) that pcscd sees through the vsmartcard vpcd reader
// driver, so tests and the demo exercise the real PC/SC stack
// (ebfe/scard → libpcsclite → pcscd → vpcd → this card) and independent
// clients such as OpenSC can check it.
//
// It owns the card's behaviour (SELECT, GET DATA, VERIFY, CHANGE REFERENCE
// DATA, RESET RETRY COUNTER, GENERAL AUTHENTICATE, command and response
// chaining, PIN and PUK counters), its persisted state file, the vpcd socket
// client with insert/remove controls for tests, and the provisioning of a
// TEST card from the TEST CA. It must never be built into anything a user
// installs as a card: its keys live in a plain file. Where the card and
// OpenSC disagree, the card is wrong.
//
// References:
//   - NIST SP 800-73-4 Part 1 (data model, Tables 3 and 4b) and Part 2
//     (card command interface, §3).
//   - NIST SP 800-78-4 Table 6-2 (algorithm identifiers).
//   - vsmartcard vpcd: 2-byte big-endian length framing; 1-byte control
//     messages 00 power off, 01 power on, 02 reset, 04 get ATR.
package softcard
