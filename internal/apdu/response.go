package apdu

import "fmt"

// Response is a response APDU: the data field and the status word.
type Response struct {
	Data []byte
	SW   uint16
}

// ParseResponse splits raw response bytes into data and SW1 SW2. Data aliases b.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("apdu: response of %d bytes: %w", len(b), ErrMalformed)
	}
	n := len(b) - 2
	return Response{Data: b[:n], SW: uint16(b[n])<<8 | uint16(b[n+1])}, nil
}

// SW1 returns the first status byte.
func (r Response) SW1() byte { return byte(r.SW >> 8) }

// SW2 returns the second status byte.
func (r Response) SW2() byte { return byte(r.SW) }

// Err returns nil for 9000 and the Status error otherwise.
func (r Response) Err() error {
	if r.SW == SWOK {
		return nil
	}
	return Status(r.SW)
}

// Bytes encodes r as data followed by SW1 SW2.
func (r Response) Bytes() []byte {
	b := make([]byte, 0, len(r.Data)+2)
	b = append(b, r.Data...)
	return append(b, byte(r.SW>>8), byte(r.SW))
}
