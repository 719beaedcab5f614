package vpcd

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// ReadMessage parses bytes from another process (vpcd, or a card program
// on the loopback address). Whatever arrives, it must not panic, must
// return exactly the announced length or an error, and what it returns
// must write back to the bytes it came from.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add([]byte{0x00, 0x00})
	f.Add([]byte{0x00, 0x01, GetATR})
	f.Add([]byte{0x00, 0x04, 0x00, 0xA4, 0x04, 0x00, 0xFF})
	f.Add([]byte{0x00, 0x0A, 0x61, 0x00, 0x90})
	f.Add([]byte{0xFF, 0xFF, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, buf := range [][]byte{nil, make([]byte, 0, 8), make([]byte, 3, 300)} {
			r := bytes.NewReader(data)
			msg, err := ReadMessage(r, buf)
			if err != nil {
				if msg != nil {
					t.Fatalf("ReadMessage(% X) = % X with error %v", data, msg, err)
				}
				if len(data) >= 2 && len(data) >= 2+int(binary.BigEndian.Uint16(data)) {
					t.Fatalf("ReadMessage(% X) failed on a complete message: %v", data, err)
				}
				continue
			}
			n := int(binary.BigEndian.Uint16(data))
			if len(msg) != n || !bytes.Equal(msg, data[2:2+n]) {
				t.Fatalf("ReadMessage(% X) = % X, want the %d bytes announced", data, msg, n)
			}
			if r.Len() != len(data)-2-n {
				t.Fatalf("ReadMessage(% X) consumed %d bytes, want %d", data, len(data)-r.Len(), 2+n)
			}
			var out bytes.Buffer
			if err := WriteMessage(&out, msg); err != nil {
				t.Fatalf("WriteMessage(% X): %v", msg, err)
			}
			if !bytes.Equal(out.Bytes(), data[:2+n]) {
				t.Fatalf("round trip of % X gave % X", data[:2+n], out.Bytes())
			}
		}
	})
}
