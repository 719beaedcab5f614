package apdu

import (
	"fmt"
)

// Transmitter is the one narrow interface to a card: one command APDU out,
// one response APDU back. The PC/SC layer, the virtual card's in-process
// transport and scripted test cards all implement it.
type Transmitter interface {
	Transmit(cmd []byte) ([]byte, error)
}

// Limits that keep a confused or hostile card from making the host loop or
// allocate without bound.
const (
	// MaxResponse is the most data Transceive collects over GET RESPONSE;
	// PIV's largest objects (certificates) stay far below it.
	MaxResponse = 64 << 10
	maxRounds   = 512
)

// Transceive sends c over t the way PIV clients do: short APDUs only, data
// over 255 bytes sent as a command chain (CLA 10), 6Cxx answered by resending
// with the Le the card asked for, and 61xx answered with GET RESPONSE until
// the card has given everything. It returns the card's final status word in
// the Response; only transport failures and protocol violations are errors.
func Transceive(t Transmitter, c Command) (Response, error) {
	if c.Ne > MaxShortNe {
		c.Ne = MaxShortNe
	}
	parts := c.Chain(MaxShortData)
	for _, p := range parts[:len(parts)-1] {
		r, err := exchange(t, p)
		if err != nil {
			return Response{}, err
		}
		if r.SW != SWOK {
			return r, nil // the card refused the chain; its word explains why
		}
	}
	last := parts[len(parts)-1]
	r, err := exchange(t, last)
	if err != nil {
		return Response{}, err
	}
	if r.SW1() == SW1WrongLe {
		last.Ne = shortNe(r.SW2())
		if r, err = exchange(t, last); err != nil {
			return Response{}, err
		}
	}
	if r.SW1() != SW1MoreData {
		return r, nil
	}
	data := append([]byte(nil), r.Data...)
	for round := 0; r.SW1() == SW1MoreData; round++ {
		if round == maxRounds {
			return Response{}, fmt.Errorf("apdu: GET RESPONSE did not end after %d rounds: %w", maxRounds, ErrMalformed)
		}
		get := Command{CLA: c.CLA &^ ClaChaining, INS: 0xC0, Ne: shortNe(r.SW2())}
		if r, err = exchange(t, get); err != nil {
			return Response{}, err
		}
		if len(data)+len(r.Data) > MaxResponse {
			return Response{}, fmt.Errorf("apdu: response over %d bytes: %w", MaxResponse, ErrMalformed)
		}
		data = append(data, r.Data...)
	}
	r.Data = data
	return r, nil
}

func exchange(t Transmitter, c Command) (Response, error) {
	b, err := c.Bytes()
	if err != nil {
		return Response{}, err
	}
	raw, err := t.Transmit(b)
	if err != nil {
		return Response{}, err
	}
	return ParseResponse(raw)
}
