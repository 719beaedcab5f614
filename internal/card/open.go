package card

import (
	"fmt"

	"github.com/cardbridge/cardbridge/internal/pcsc"
)

// Open connects to the card in reader through PC/SC and returns its PIV
// client with the identity the certificate cache needs. Close the returned
// pcsc.Card when done.
func Open(x *pcsc.Context, reader string, cache *Cache) (*PIV, *pcsc.Card, error) {
	states, err := x.Status([]string{reader})
	if err != nil {
		return nil, nil, err
	}
	if len(states) != 1 || !states[0].Present() {
		return nil, nil, fmt.Errorf("open %s: %w", reader, pcsc.ErrNoCard)
	}
	conn, err := x.Connect(reader)
	if err != nil {
		return nil, nil, err
	}
	id := Identity{Reader: reader, Events: states[0].Events, ATR: states[0].ATR}
	return NewPIV(conn, id, cache), conn, nil
}
