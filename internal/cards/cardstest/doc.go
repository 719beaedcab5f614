// Package cardstest is a fake card backend for unit tests' fault
// injection: readers that are empty, hold a card, hold a card that cannot
// be opened or does not answer, or cannot be listed at all, and cards
// whose certificates, PIN status or key operations fail on demand. Its
// cards sign and decrypt with real keys, so what they return verifies.
//
// It stands in where a real card cannot be made to show a fault, or lacks
// the certificates a test needs; the real card stack is exercised end to
// end against the virtual card. It is for tests only and never linked by
// the shipped host (host/deps_test.go holds that).
package cardstest
