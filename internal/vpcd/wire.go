package vpcd

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// Control codes: one-byte messages from the reader.
const (
	PowerOff = 0x00
	PowerOn  = 0x01
	Reset    = 0x02
	GetATR   = 0x04
)

// MaxMessage is the largest message the two-byte length can announce.
const MaxMessage = 0xFFFF

// WriteMessage sends msg with its length prefix in one write.
func WriteMessage(w io.Writer, msg []byte) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("vpcd: message of %d bytes", len(msg))
	}
	out := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(out, uint16(len(msg)))
	copy(out[2:], msg)
	_, err := w.Write(out)
	return err
}

// ReadMessage reads one message into buf (grown when too small) and
// returns it.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	msg := buf[:n]
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// QuickAck asks Linux to acknowledge the next segment at once (see
// quickack_linux.go); a no-op elsewhere and on non-TCP connections.
func QuickAck(c net.Conn) { quickAck(c) }
