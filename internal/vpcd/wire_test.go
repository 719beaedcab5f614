package vpcd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pattern returns n bytes that differ from their neighbours, so a shifted
// or truncated copy does not compare equal.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// Messages of every size the two-byte length allows survive the trip, back
// to back on one stream, each behind its big-endian length.
func TestMessageRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 4, 5, 255, 256, 261, 4096, MaxMessage}
	var stream bytes.Buffer
	for _, n := range sizes {
		before := stream.Len()
		require.NoError(t, WriteMessage(&stream, pattern(n)))
		wire := stream.Bytes()[before:]
		require.Len(t, wire, 2+n)
		assert.Equal(t, []byte{byte(n >> 8), byte(n)}, wire[:2], "length prefix of %d bytes", n)
	}
	for _, n := range sizes {
		msg, err := ReadMessage(&stream, nil)
		require.NoError(t, err, "message of %d bytes", n)
		assert.True(t, bytes.Equal(pattern(n), msg), "message of %d bytes", n)
		assert.Len(t, msg, n)
	}
	_, err := ReadMessage(&stream, nil)
	assert.ErrorIs(t, err, io.EOF, "stream not consumed exactly")
}

// writeCounter counts Write calls.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// The length and the message go out in one write: two small writes on a
// socket without TCP_NODELAY cost a delayed ACK per exchange.
func TestWriteMessageOneWrite(t *testing.T) {
	for _, n := range []int{0, 1, 300, MaxMessage} {
		var w writeCounter
		require.NoError(t, WriteMessage(&w, pattern(n)))
		assert.Equal(t, 1, w.writes, "writes for a message of %d bytes", n)
	}
}

// A message the length cannot announce is refused before anything is
// written, so the stream stays in step.
func TestWriteMessageTooLong(t *testing.T) {
	var w writeCounter
	err := WriteMessage(&w, make([]byte, MaxMessage+1))
	require.Error(t, err)
	assert.Zero(t, w.writes)
	assert.Zero(t, w.Len())
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errSentinel }

var errSentinel = errors.New("sentinel")

// The writer's error reaches the caller.
func TestWriteMessageError(t *testing.T) {
	assert.ErrorIs(t, WriteMessage(failingWriter{}, []byte{GetATR}), errSentinel)
}

// A stream that ends inside a message is an error, never a short message.
// (want nil: any error.)
func TestReadMessageTruncated(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"half a length", []byte{0x00}, io.ErrUnexpectedEOF},
		{"no body", []byte{0x00, 0x02}, nil},
		{"short body", []byte{0x00, 0x05, 1, 2, 3}, io.ErrUnexpectedEOF},
		{"largest length, short body", append([]byte{0xFF, 0xFF}, make([]byte, 100)...), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := ReadMessage(bytes.NewReader(tc.in), make([]byte, 0, 16))
			require.Error(t, err)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Nil(t, msg)
		})
	}
	msg, err := ReadMessage(bytes.NewReader([]byte{0, 0}), nil)
	require.NoError(t, err)
	assert.Empty(t, msg, "empty message")
}

// ReadMessage reads into the caller's buffer when it is large enough (the
// card server reads every APDU into one buffer) and allocates otherwise.
func TestReadMessageBuffer(t *testing.T) {
	var stream bytes.Buffer
	require.NoError(t, WriteMessage(&stream, pattern(10)))
	require.NoError(t, WriteMessage(&stream, pattern(40)))

	buf := make([]byte, 5, 32)
	msg, err := ReadMessage(&stream, buf)
	require.NoError(t, err)
	assert.Equal(t, pattern(10), msg)
	assert.Same(t, &buf[:1][0], &msg[0], "large enough buffer not used")

	msg, err = ReadMessage(&stream, buf)
	require.NoError(t, err)
	assert.Equal(t, pattern(40), msg)
	assert.Len(t, msg, 40)
	assert.Equal(t, pattern(10), buf[:10], "a too small buffer was written past")
}

// QuickAck is safe on any connection: a TCP socket, where it sets the
// option, and a connection without a socket, where it does nothing.
func TestQuickAck(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	QuickAck(a)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	QuickAck(c)
	QuickAck(c) // again before every read
}
