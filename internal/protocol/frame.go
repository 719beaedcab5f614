package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame size limits. A frame is a uint32 length in the machine's native
// byte order followed by that many bytes of UTF-8 JSON.
const (
	// MaxRequestSize caps one incoming frame. Chrome lets an extension send
	// up to 64 MiB; nothing CardBridge accepts needs more than a document
	// for a CMS signature (MaxDataSize, base64-encoded) plus the envelope,
	// so anything larger is refused before it is read into memory.
	MaxRequestSize = 8 << 20
	// MaxResponseSize is Chrome's limit for host→browser messages (1 MiB):
	// Chrome closes the port on a larger one, so the host refuses to send it
	// and answers ERR_RESPONSE_TOO_LARGE instead.
	MaxResponseSize = 1 << 20
	// browserMaxSize is the most a browser will ever send (Chrome: 64 MiB).
	// An oversize frame up to this length is skipped so the stream stays in
	// step; a longer length cannot come from a browser, so the stream is
	// taken to be corrupt.
	browserMaxSize = 64 << 20
)

// Frame errors.
var (
	// ErrFrameTooLarge: the frame's length is over MaxRequestSize. When
	// returned from ReadFrame with Resynced set, its body has been skipped
	// and the next frame can be read.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrFrameEmpty: a zero-length frame, which holds no JSON.
	ErrFrameEmpty = errors.New("empty frame")
	// ErrOversizeResponse: an outgoing frame over MaxResponseSize.
	ErrOversizeResponse = errors.New("response too large")
)

// FrameError describes a frame that was refused.
type FrameError struct {
	Size uint32
	// Resynced reports that the frame's body was skipped, so the stream is
	// still in step and reading may go on.
	Resynced bool
	Err      error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("frame of %d bytes: %v", e.Size, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// ReadFrame reads one frame. It returns io.EOF when r ends cleanly between
// frames and io.ErrUnexpectedEOF when it ends inside one. A frame over
// MaxRequestSize or of zero length gives a *FrameError; when its Resynced
// field is set the caller may answer with an error and read on.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.NativeEndian.Uint32(hdr[:])
	switch {
	case n == 0:
		return nil, &FrameError{Size: 0, Resynced: true, Err: ErrFrameEmpty}
	case n > browserMaxSize:
		return nil, &FrameError{Size: n, Err: ErrFrameTooLarge}
	case n > MaxRequestSize:
		skipped, err := io.CopyN(io.Discard, r, int64(n))
		if err != nil {
			if errors.Is(err, io.EOF) && skipped < int64(n) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return nil, &FrameError{Size: n, Resynced: true, Err: ErrFrameTooLarge}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// WriteFrame writes body as one frame in a single Write, so that frames
// from concurrent writers sharing a lock never interleave.
func WriteFrame(w io.Writer, body []byte) error {
	if len(body) > MaxResponseSize {
		return &FrameError{Size: uint32(len(body)), Err: ErrOversizeResponse}
	}
	buf := make([]byte, 4+len(body))
	binary.NativeEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}
