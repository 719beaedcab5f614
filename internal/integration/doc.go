// Package integration holds CardBridge's tests through the real PC/SC stack:
// ebfe/scard → libpcsclite → pcscd → vpcd → the virtual card, plus OpenSC as
// an independent client of the same card and the cardbridge binary as users
// run it. It has no code outside its tests.
//
// The tests start pcscd themselves when none runs (and stop it afterwards),
// put a fresh virtual card into reader "Virtual PCD 00 00" for each test,
// and skip without pcscd unless CARDBRIDGE_REQUIRE_PCSC=1.
package integration
