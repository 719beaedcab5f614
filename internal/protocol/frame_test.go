package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// header is a frame header in the machine's byte order, as the browser
// writes it.
func header(n uint32) []byte {
	return binary.NativeEndian.AppendUint32(nil, n)
}

// frame is body with its header.
func frame(body string) []byte {
	return append(header(uint32(len(body))), body...)
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// zeros is an endless source of zero bytes that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// step is one expected ReadFrame result.
type step struct {
	body     string // the frame, when err is nil
	err      error  // matched with errors.Is
	resynced bool   // for a *FrameError
	size     uint32 // for a *FrameError
}

func TestReadFrame(t *testing.T) {
	big := strings.Repeat("x", MaxRequestSize-len(`{"a":""}`))
	maxBody := `{"a":"` + big + `"}`
	for _, tc := range []struct {
		name  string
		in    []byte
		steps []step
	}{
		{"normal", frame(`{"id":1}`), []step{{body: `{"id":1}`}, {err: io.EOF}}},
		{"back to back", cat(frame(`{"id":1}`), frame(`{}`), frame(`{"id":"x"}`)),
			[]step{{body: `{"id":1}`}, {body: `{}`}, {body: `{"id":"x"}`}, {err: io.EOF}}},
		{"empty input", nil, []step{{err: io.EOF}}},
		{"EOF in header", header(5)[:3], []step{{err: io.ErrUnexpectedEOF}}},
		{"EOF in header after a frame", cat(frame(`{}`), header(5)[:1]), []step{{body: `{}`}, {err: io.ErrUnexpectedEOF}}},
		{"EOF before body", header(5), []step{{err: io.ErrUnexpectedEOF}}},
		{"EOF in body", cat(header(10), []byte(`{"id"`)), []step{{err: io.ErrUnexpectedEOF}}},
		{"zero length then a frame", cat(header(0), frame(`{}`)),
			[]step{{err: ErrFrameEmpty, resynced: true, size: 0}, {body: `{}`}, {err: io.EOF}}},
		{"exactly MaxRequestSize", frame(maxBody), []step{{body: maxBody}, {err: io.EOF}}},
		{"MaxRequestSize+1 then a frame", cat(header(MaxRequestSize+1), make([]byte, MaxRequestSize+1), frame(`{"id":2}`)),
			[]step{{err: ErrFrameTooLarge, resynced: true, size: MaxRequestSize + 1}, {body: `{"id":2}`}, {err: io.EOF}}},
		{"oversize frame cut short", cat(header(MaxRequestSize+1), make([]byte, 100)), []step{{err: io.ErrUnexpectedEOF}}},
		{"oversize frame with no body", header(MaxRequestSize + 1), []step{{err: io.ErrUnexpectedEOF}}},
		{"over 64 MiB", cat(header(browserMaxSize+1), frame(`{}`)),
			[]step{{err: ErrFrameTooLarge, resynced: false, size: browserMaxSize + 1}}},
		{"max uint32", header(0xFFFFFFFF), []step{{err: ErrFrameTooLarge, resynced: false, size: 0xFFFFFFFF}}},
	} {
		for _, oneByte := range []bool{false, true} {
			name := tc.name
			if oneByte {
				name += "/one byte per Read"
			}
			t.Run(name, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(tc.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				checkSteps(t, r, tc.steps)
			})
		}
	}
}

func checkSteps(t *testing.T, r io.Reader, steps []step) {
	t.Helper()
	for i, want := range steps {
		got, err := ReadFrame(r)
		if want.err == nil {
			if err != nil || string(got) != want.body {
				t.Fatalf("ReadFrame #%d = %.40q…, %v; want %.40q…, nil", i, got, err, want.body)
			}
			continue
		}
		if got != nil || !errors.Is(err, want.err) {
			t.Fatalf("ReadFrame #%d = %.40q, %v; want nil, %v", i, got, err, want.err)
		}
		if want.err == io.EOF && err != io.EOF {
			t.Fatalf("ReadFrame #%d error = %#v, want io.EOF itself (callers compare with ==)", i, err)
		}
		var fe *FrameError
		isFrame := errors.As(err, &fe)
		wantFrame := want.err == ErrFrameEmpty || want.err == ErrFrameTooLarge
		if isFrame != wantFrame {
			t.Fatalf("ReadFrame #%d error %v: *FrameError = %v, want %v", i, err, isFrame, wantFrame)
		}
		if isFrame && (fe.Resynced != want.resynced || fe.Size != want.size) {
			t.Fatalf("ReadFrame #%d = %+v, want Size %d Resynced %v", i, fe, want.size, want.resynced)
		}
	}
}

// strictReader hands out data and fails the test if anything reads past it.
type strictReader struct {
	t    *testing.T
	data []byte
}

func (r *strictReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Errorf("ReadFrame read past the %d-byte header of a corrupt frame", 4)
		return 0, errors.New("read too far")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// A length no browser sends is refused from the header alone: nothing more
// is read and no buffer of that size is allocated.
func TestReadFrameCorruptLengthAllocatesNothing(t *testing.T) {
	for _, n := range []uint32{browserMaxSize + 1, 1 << 30, 0xFFFFFFFF} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := ReadFrame(&strictReader{t: t, data: header(n)})
		runtime.ReadMemStats(&after)
		var fe *FrameError
		if got != nil || !errors.As(err, &fe) || !errors.Is(err, ErrFrameTooLarge) || fe.Resynced || fe.Size != n {
			t.Errorf("ReadFrame(length %d) = %v, %#v; want *FrameError{ErrFrameTooLarge, Resynced: false}", n, got, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
			t.Errorf("ReadFrame(length %d) allocated %d bytes, want < 64 KiB", n, d)
		}
		if c := CodeFor(err); c != ErrMessageTooLarge {
			t.Errorf("CodeFor(%v) = %s, want %s", err, c, ErrMessageTooLarge)
		}
	}
}

// A frame of exactly 64 MiB may come from a browser, so it is skipped
// without being held in memory and the stream stays in step.
func TestReadFrameSkipsBrowserMax(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(header(browserMaxSize)), io.LimitReader(zeros{}, browserMaxSize), bytes.NewReader(frame(`{"id":3}`)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(r)
	runtime.ReadMemStats(&after)
	var fe *FrameError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFrameTooLarge) || !fe.Resynced {
		t.Fatalf("ReadFrame(64 MiB) error = %v, want resynced ErrFrameTooLarge", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("skipping a 64 MiB frame allocated %d bytes, want < 1 MiB", d)
	}
	if got, err := ReadFrame(r); err != nil || string(got) != `{"id":3}` {
		t.Errorf("ReadFrame after skip = %q, %v; want the next frame", got, err)
	}
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

func TestWriteFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"small", []byte(`{"id":1,"result":{}}`)},
		{"one byte", []byte(`1`)},
		{"non-ASCII", []byte(`{"message":"PIN 碼錯誤"}`)},
		{"exactly MaxResponseSize", bytes.Repeat([]byte("a"), MaxResponseSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w countingWriter
			if err := WriteFrame(&w, tc.body); err != nil {
				t.Fatalf("WriteFrame(%d bytes) = %v, want nil", len(tc.body), err)
			}
			if w.calls != 1 {
				t.Errorf("WriteFrame made %d Write calls, want 1", w.calls)
			}
			if got := binary.NativeEndian.Uint32(w.Bytes()); got != uint32(len(tc.body)) {
				t.Errorf("header = %d, want %d", got, len(tc.body))
			}
			got, err := ReadFrame(&w)
			if err != nil || !bytes.Equal(got, tc.body) {
				t.Errorf("ReadFrame(WriteFrame(%.20q…)) = %.20q…, %v", tc.body, got, err)
			}
			if _, err := ReadFrame(&w); err != io.EOF {
				t.Errorf("second ReadFrame = %v, want io.EOF", err)
			}
		})
	}
}

func TestWriteFrameOversize(t *testing.T) {
	for _, n := range []int{MaxResponseSize + 1, 2 * MaxResponseSize} {
		var w countingWriter
		err := WriteFrame(&w, make([]byte, n))
		var fe *FrameError
		if !errors.Is(err, ErrOversizeResponse) || !errors.As(err, &fe) || fe.Size != uint32(n) {
			t.Errorf("WriteFrame(%d bytes) = %v, want *FrameError wrapping ErrOversizeResponse", n, err)
		}
		if w.calls != 0 || w.Len() != 0 {
			t.Errorf("WriteFrame(%d bytes) wrote %d bytes in %d calls, want nothing", n, w.Len(), w.calls)
		}
		if c := CodeFor(err); c != ErrResponseTooLarge {
			t.Errorf("CodeFor(%v) = %s, want %s", err, c, ErrResponseTooLarge)
		}
	}
}

func TestWriteFrameError(t *testing.T) {
	want := errors.New("broken pipe")
	if err := WriteFrame(failWriter{want}, []byte(`{}`)); !errors.Is(err, want) {
		t.Errorf("WriteFrame(failing writer) = %v, want %v", err, want)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestFrameErrorMessage(t *testing.T) {
	err := &FrameError{Size: 9 << 20, Resynced: true, Err: ErrFrameTooLarge}
	if got, want := err.Error(), "frame of 9437184 bytes: frame too large"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
