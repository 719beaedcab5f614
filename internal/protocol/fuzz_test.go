package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// frameModel is what ReadFrame should return, read after read, for the
// stream data: a plain restatement of the framing rules.
func frameModel(data []byte) []step {
	const corrupt = 64 << 20 // longer than any browser sends
	var steps []step
	for {
		switch {
		case len(data) == 0:
			return append(steps, step{err: io.EOF})
		case len(data) < 4:
			return append(steps, step{err: io.ErrUnexpectedEOF})
		}
		n := binary.NativeEndian.Uint32(data)
		data = data[4:]
		switch {
		case n == 0:
			steps = append(steps, step{err: ErrFrameEmpty, resynced: true})
		case n > corrupt:
			return append(steps, step{err: ErrFrameTooLarge, size: n})
		case uint64(n) > uint64(len(data)):
			return append(steps, step{err: io.ErrUnexpectedEOF})
		case n > MaxRequestSize:
			steps = append(steps, step{err: ErrFrameTooLarge, resynced: true, size: n})
			data = data[n:]
		default:
			steps = append(steps, step{body: string(data[:n])})
			data = data[n:]
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, seed := range [][]byte{
		frame(`{"id":1,"command":"version"}`),
		cat(frame(`{"id":1}`), frame(`{}`), frame(`{"id":"x"}`)),
		nil,
		header(5)[:3],
		cat(header(10), []byte(`{"id"`)),
		cat(header(0), frame(`{}`)),
		cat(header(MaxRequestSize+1), []byte("short")),
		cat(header(browserMaxSize+1), frame(`{}`)),
		header(0xFFFFFFFF),
		header(MaxRequestSize),
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, oneByte bool) {
		var r io.Reader = bytes.NewReader(data)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		checkSteps(t, r, frameModel(data))

		// Read on while the stream is in step; no frame is ever larger
		// than the cap, and every error is one ReadFrame documents.
		r = bytes.NewReader(data)
		for range len(data) + 2 {
			body, err := ReadFrame(r)
			if len(body) > MaxRequestSize {
				t.Fatalf("ReadFrame returned %d bytes, over MaxRequestSize", len(body))
			}
			if err == nil {
				if len(body) == 0 {
					t.Fatal("ReadFrame returned an empty frame without error")
				}
				continue
			}
			var fe *FrameError
			if errors.As(err, &fe) && fe.Resynced {
				continue
			}
			if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &fe) {
				t.Fatalf("ReadFrame error %#v is not io.EOF, io.ErrUnexpectedEOF or *FrameError", err)
			}
			return
		}
		t.Fatal("ReadFrame never reached the end of the input")
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, tc := range parseRequestCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(`{"command":"","id":5}`))
	f.Add([]byte(`{"id":"<&>","command":"sign","origin":"http://[::1]:1234","args":{"pin":"1"}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseRequest(frame)
		if req == nil {
			t.Fatalf("ParseRequest(%q) returned a nil request", frame)
		}
		if req.ID != nil {
			checkWireID(t, req.ID)
		}
		if err != nil {
			if c := CodeFor(err); c != ErrBadMessage && c != ErrBadOrigin {
				t.Fatalf("ParseRequest(%q) = %v, code %s; want ERR_BAD_MESSAGE or ERR_BAD_ORIGIN", frame, err, c)
			}
			if reply := ErrorReply(req.ID, err); !json.Valid(reply) {
				t.Fatalf("ErrorReply for %q = %q, not JSON", frame, reply)
			}
			return
		}
		if !utf8.Valid(frame) || !json.Valid(frame) {
			t.Fatalf("ParseRequest accepted %q, which is not UTF-8 JSON", frame)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(frame, &top); err != nil {
			t.Fatalf("ParseRequest accepted %q, which is not an object: %v", frame, err)
		}
		for k := range top {
			if !slices.Contains([]string{"id", "command", "origin", "args"}, k) {
				t.Fatalf("ParseRequest accepted %q with key %q", frame, k)
			}
		}
		if req.Command == "" || len(req.Command) > 32 {
			t.Fatalf("ParseRequest(%q).Command = %q", frame, req.Command)
		}
		if req.ID == nil {
			t.Fatalf("ParseRequest(%q) succeeded without an id", frame)
		}
		if len(req.Args) == 0 || req.Args[0] != '{' || !json.Valid(req.Args) {
			t.Fatalf("ParseRequest(%q).Args = %q, not an object", frame, req.Args)
		}
		if req.Origin != "" {
			if err := CheckOrigin(req.Origin); err != nil {
				t.Fatalf("ParseRequest(%q).Origin = %q, which CheckOrigin refuses: %v", frame, req.Origin, err)
			}
		}
		// The id, echoed in a reply and sent back, reads the same.
		reply, err := ResultReply(req.ID, nil)
		if err != nil {
			t.Fatalf("ResultReply(%s) = %v", req.ID, err)
		}
		var echoed struct{ ID json.RawMessage }
		if err := json.Unmarshal(reply, &echoed); err != nil {
			t.Fatalf("reply %s: %v", reply, err)
		}
		again, err := ParseRequest([]byte(`{"id":` + string(echoed.ID) + `,"command":"x"}`))
		if err != nil || !bytes.Equal(again.ID, req.ID) {
			t.Fatalf("id %s echoed as %s re-parses to %s, %v", req.ID, echoed.ID, again.ID, err)
		}
	})
}

// checkWireID checks an id as ParseRequest returns it: a JSON integer
// 0…2^53 or a JSON string of 1…64 printable ASCII characters.
func checkWireID(t *testing.T, id json.RawMessage) {
	t.Helper()
	if n, err := strconv.ParseUint(string(id), 10, 64); err == nil {
		if n > 1<<53 || strconv.FormatUint(n, 10) != string(id) {
			t.Fatalf("id %s is out of range or not canonical", id)
		}
		return
	}
	var s string
	if err := json.Unmarshal(id, &s); err != nil {
		t.Fatalf("id %q is neither an integer nor a string: %v", id, err)
	}
	if s == "" || len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		t.Fatalf("id %q is not 1…64 printable characters", s)
	}
}

func FuzzDecodeArgs(f *testing.F) {
	for _, tc := range append(signCases(), otherCases()...) {
		if len(tc.raw) < 4096 {
			f.Add([]byte(tc.raw))
		}
	}
	dsts := []func() any{sign, authenticate, decrypt, changePIN, unblockPIN, cardArgs, readerArgs, noArgs}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, dst := range dsts {
			v := dst()
			err := DecodeArgs(raw, v)
			if err != nil {
				if c := CodeFor(err); c != ErrBadArgument && c != ErrMissingArgument {
					t.Fatalf("DecodeArgs(%q, %T) = %v, code %s", raw, v, err, c)
				}
				continue
			}
			if !json.Valid(raw) {
				t.Fatalf("DecodeArgs accepted %q, which is not JSON", raw)
			}
			if err := argCaps(v); err != nil {
				t.Fatalf("DecodeArgs(%q, %T) = %+v: %v", raw, v, v, err)
			}
		}
	})
}

// argCaps checks a decoded argument struct against the documented rules,
// written out again here rather than read from the tags.
func argCaps(v any) error {
	hex64 := func(name, s string, optional bool) error {
		if optional && s == "" {
			return nil
		}
		if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
			return fmt.Errorf("%s %q is not 64 lower-case hex digits", name, s)
		}
		return nil
	}
	secret := func(name string, s Secret) error {
		if len(s) > 16 {
			return fmt.Errorf("%s is %d bytes", name, len(s))
		}
		for _, c := range s {
			if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
				return fmt.Errorf("%s holds %q", name, c)
			}
		}
		return nil
	}
	oneof := func(name, s string, allowed ...string) error {
		if !slices.Contains(allowed, s) {
			return fmt.Errorf("%s %q is not one of %q", name, s, allowed)
		}
		return nil
	}
	card := func(a CardArgs) error {
		if len(a.Reader) > 128 {
			return fmt.Errorf("reader is %d bytes", len(a.Reader))
		}
		if a.Reader != "" && a.CertificateID != "" {
			return errors.New("both reader and certificateId")
		}
		return hex64("certificateId", a.CertificateID, true)
	}
	switch a := v.(type) {
	case *SignArgs:
		size := map[string]int{"SHA-256": 32, "SHA-384": 48, "SHA-512": 64}[a.HashAlgorithm]
		return errors.Join(
			hex64("certificateId", a.CertificateID, false),
			secret("pin", a.PIN),
			oneof("hashAlgorithm", a.HashAlgorithm, "SHA-256", "SHA-384", "SHA-512"),
			oneof("format", a.Format, "", "raw", "cms"),
			check(len(a.Data) <= MaxDataSize, "data over MaxDataSize"),
			check((a.Digest == nil) != (a.Data == nil), "not exactly one of digest and data"),
			check(a.Digest == nil || len(a.Digest) == size, "digest length does not match"),
			check(a.Nonce == "" || len(a.Nonce) >= 4 && len(a.Nonce) <= 128, "nonce length"),
			check(a.Format == "cms" || a.Nonce == "" && a.WithCardSerial == nil, "cms options without cms"),
			check(a.Format != "cms" || a.Data != nil, "cms without data"),
		)
	case *AuthenticateArgs:
		b, err := base64.StdEncoding.Strict().DecodeString(a.Challenge)
		return errors.Join(
			hex64("certificateId", a.CertificateID, false),
			secret("pin", a.PIN),
			check(err == nil && !strings.ContainsAny(a.Challenge, "\r\n") && len(b) >= 32 && len(b) <= 64,
				fmt.Sprintf("challenge %q is not base64 of 32…64 bytes", a.Challenge)),
		)
	case *DecryptArgs:
		return errors.Join(
			hex64("certificateId", a.CertificateID, false),
			secret("pin", a.PIN),
			check(len(a.Ciphertext) >= 1 && len(a.Ciphertext) <= 512, "ciphertext length"),
			oneof("padding", a.Padding, "", "PKCS1.5", "OAEP"),
			oneof("oaepHash", a.OAEPHash, "", "SHA-1", "SHA-256"),
			check(a.OAEPHash == "" || a.Padding == "OAEP", "oaepHash without OAEP"),
		)
	case *ChangePINArgs:
		return errors.Join(card(a.CardArgs), secret("pin", a.PIN), secret("newPin", a.NewPIN))
	case *UnblockPINArgs:
		return errors.Join(card(a.CardArgs), secret("puk", a.PUK), secret("newPin", a.NewPIN))
	case *CardArgs:
		return card(*a)
	case *ReaderArgs:
		return check(len(a.Reader) <= 128, "reader over 128 bytes")
	case *NoArgs:
		return nil
	}
	return fmt.Errorf("no rules for %T", v)
}

func check(ok bool, msg string) error {
	if ok {
		return nil
	}
	return errors.New(msg)
}

// The hand-written rules agree with the decoder on the table's cases, so
// that the fuzz target checks what it claims to.
func TestArgCaps(t *testing.T) {
	for _, tc := range append(signCases(), otherCases()...) {
		if tc.want == nil {
			continue
		}
		if err := argCaps(tc.want); err != nil {
			t.Errorf("%s: argCaps(%+v) = %v", tc.name, tc.want, err)
		}
	}
	if err := argCaps(&SignArgs{CertificateID: testCID, HashAlgorithm: "SHA-256", Digest: seq(31)}); err == nil {
		t.Error("argCaps accepted a 31-byte SHA-256 digest")
	}
	if err := argCaps(&ChangePINArgs{PIN: Secret(strings.Repeat("1", 17))}); err == nil {
		t.Error("argCaps accepted a 17-byte PIN")
	}
}

func FuzzCheckOrigin(f *testing.F) {
	for _, tc := range originCases {
		f.Add(tc.origin)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		err := CheckOrigin(origin)
		if err != nil {
			if c := CodeFor(err); c != ErrBadOrigin {
				t.Fatalf("CheckOrigin(%q) = %v, code %s", origin, err, c)
			}
			if _, ok := Details(err)["origin"].(string); !ok {
				t.Fatalf("CheckOrigin(%q) details = %v, want origin", origin, Details(err))
			}
			return
		}
		if err := originShape(origin); err != nil {
			t.Fatalf("CheckOrigin accepted %q: %v", origin, err)
		}
	})
}

// originShape checks an accepted origin independently of CheckOrigin:
// https://host[:port] or http://loopback[:port], lower-case printable
// ASCII, nothing after the port.
func originShape(origin string) error {
	if len(origin) > MaxOriginLen {
		return errors.New("too long")
	}
	if strings.ContainsFunc(origin, func(r rune) bool { return r <= ' ' || r >= 0x7f || r >= 'A' && r <= 'Z' || r == '%' }) {
		return errors.New("not lower-case printable ASCII without '%'")
	}
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok || scheme != "https" && scheme != "http" {
		return errors.New("scheme is not https or http")
	}
	if rest == "" || strings.ContainsAny(rest, "/?#@\\") {
		return errors.New("has no host, or has a path, query, fragment or user")
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || strconv.Itoa(n) != port {
			return fmt.Errorf("bad port %q", port)
		}
	}
	if host == "" {
		return errors.New("empty host")
	}
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
		return errors.New("unbalanced brackets")
	}
	if inner, ok := strings.CutPrefix(host, "["); ok {
		if ip := net.ParseIP(inner[:len(inner)-1]); ip == nil || !strings.Contains(inner, ":") {
			return fmt.Errorf("bracketed host %q is not an IPv6 address", host)
		}
	} else if strings.ContainsAny(host, "<>[]^|\\") {
		return fmt.Errorf("host %q holds a forbidden host code point", host)
	}
	if scheme == "http" {
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("http origin for non-loopback host %q", host)
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != scheme || u.Host != rest || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("url.Parse = %#v, %v", u, err)
	}
	return nil
}
