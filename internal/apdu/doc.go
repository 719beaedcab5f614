// Package apdu owns the byte formats spoken to a smart card: command APDUs
// (short and extended length, command chaining), response APDUs, ISO 7816-4
// status words as typed errors, and BER-TLV as used by PIV data objects.
//
// It does no I/O: the PC/SC layer (internal/pcsc) moves the bytes, the card
// application (internal/card) decides what to send, and the virtual card
// (internal/softcard) parses commands with the same code it answers them with.
// Every parser here takes bytes from outside the process (a card, a reader
// driver, a socket) and therefore bounds every length before it allocates.
//
// References:
//   - ISO/IEC 7816-4:2013, §5.1 (command-response pairs), §5.6 (status bytes),
//     §5.2 (BER-TLV data objects).
//   - NIST SP 800-73-4 Part 2, §3 (PIV card command interface) and Part 1
//     Appendix A (BER-TLV in PIV data objects).
package apdu
