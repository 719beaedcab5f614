package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/origin"
)

// Version is the protocol version the host announces in hello. It changes
// only when an existing command changes incompatibly; new commands, new
// optional arguments and new error codes keep it.
const Version = 1

// Limits of the envelope.
const (
	maxIDLen      = 64
	maxCommandLen = 32
	// MaxOriginLen is the longest origin accepted, as Web eID does.
	MaxOriginLen = origin.MaxLen
)

// Request is one request from the extension:
// {"id":…, "command":"…", "origin":"https://…", "args":{…}}.
type Request struct {
	// ID is the caller's request id, a JSON integer or string, echoed
	// verbatim in the reply.
	ID json.RawMessage
	// Command names the command, e.g. "sign".
	Command string
	// Origin is the web origin the browser reported for the page, or empty
	// when the extension itself asks (its toolbar popup, for example).
	Origin string
	// Args is the raw arguments object, decoded per command by DecodeArgs.
	Args json.RawMessage
}

// Error is a refusal with a stable code, for failures found by this
// package (frames, envelope, arguments, origins) and by the host.
type Error struct {
	Code    Code
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return string(e.Code)
	}
	return fmt.Sprintf("%s: %v", e.Code, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted cause.
func Errorf(code Code, format string, a ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, a...)}
}

// ParseRequest decodes one frame strictly: only the keys id, command,
// origin and args, each once and of the right type; id and command
// required; a present origin must pass CheckOrigin. On failure it still
// returns the request with the id it could read, so the error reply can
// name it.
func ParseRequest(frame []byte) (*Request, error) {
	req := &Request{}
	if !utf8.Valid(frame) {
		return req, Errorf(ErrBadMessage, "message is not UTF-8")
	}
	var originErr, fieldErr error
	// A bad member is remembered and the walk goes on, so that the id is
	// read even when it comes after the fault and the error reply names it.
	err := walkObject(frame, func(key string, raw json.RawMessage) error {
		if err := member(req, key, raw, &originErr); err != nil && fieldErr == nil {
			fieldErr = err
		}
		return nil
	})
	if err == nil {
		err = fieldErr
	}
	switch {
	case err != nil:
		return req, &Error{Code: ErrBadMessage, Err: err}
	case req.ID == nil:
		return req, Errorf(ErrBadMessage, "id is missing")
	case req.Command == "":
		return req, Errorf(ErrBadMessage, "command is missing")
	case originErr != nil:
		return req, originErr
	}
	if req.Args == nil {
		req.Args = json.RawMessage("{}")
	}
	return req, nil
}

// member decodes one top-level member of a request into req.
func member(req *Request, key string, raw json.RawMessage, originErr *error) error {
	switch key {
	case "id":
		id, err := checkID(raw)
		if err != nil {
			return err
		}
		req.ID = id
	case "command":
		var s string
		if err := unmarshalString(raw, &s); err != nil || s == "" || len(s) > maxCommandLen {
			return fmt.Errorf("command must be a non-empty string of at most %d bytes", maxCommandLen)
		}
		req.Command = s
	case "origin":
		var s string
		if err := unmarshalString(raw, &s); err != nil {
			return errors.New("origin must be a string")
		}
		req.Origin = s
		*originErr = CheckOrigin(s)
	case "args":
		if len(raw) == 0 || raw[0] != '{' {
			return errors.New("args must be an object")
		}
		req.Args = raw
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	return nil
}

// checkID accepts a non-negative integer up to 2^53 (exact in JavaScript)
// or a non-empty string of printable ASCII.
func checkID(raw json.RawMessage) (json.RawMessage, error) {
	bad := fmt.Errorf("id must be an integer 0…2^53 or a string of 1…%d printable characters", maxIDLen)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := unmarshalString(raw, &s); err != nil || s == "" || len(s) > maxIDLen {
			return nil, bad
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return nil, bad
			}
		}
		b, _ := marshal(s) // not json.Marshal: it escapes <, > and &
		return b, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n > 1<<53 {
		return nil, bad
	}
	return json.RawMessage(strconv.FormatUint(n, 10)), nil
}

// unmarshalString decodes a JSON string and nothing else (not null).
func unmarshalString(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, s)
}

// walkObject calls fn for each member of the JSON object in data, in order,
// refusing anything but one object, duplicate keys and trailing data.
func walkObject(data []byte, fn func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		key := tok.(string) // inside an object, the decoder yields only string keys
		if seen[key] {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		if err := fn(key, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// CheckOrigin accepts an origin as browsers serialise it (origin.Check):
// https://host[:port], or http:// for localhost, 127.0.0.1 and [::1]
// (development); anything else is ErrBadOrigin.
func CheckOrigin(o string) error {
	if err := origin.Check(o); err != nil {
		return &Error{Code: ErrBadOrigin, Details: map[string]any{"origin": clip(o, 80)}, Err: err}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ErrorBody is the error object of a reply.
type ErrorBody struct {
	Code Code `json:"code"`
	// Message is the English message; MessageZH the Traditional Chinese one.
	Message   string         `json:"message"`
	MessageZH string         `json:"messageZh"`
	Details   map[string]any `json:"details,omitempty"`
}

// ErrorBodyFor builds the error object for err with CodeFor and Details.
func ErrorBodyFor(err error) *ErrorBody {
	code := CodeFor(err)
	m := Messages[code]
	return &ErrorBody{Code: code, Message: m.EN, MessageZH: m.ZH, Details: Details(err)}
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result,omitempty"`
	Error  *ErrorBody      `json:"error,omitempty"`
}

type event struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
}

// nullID is the id of a reply to a request whose id could not be read.
var nullID = json.RawMessage("null")

// ResultReply encodes {"id":…, "result":…}. A nil result becomes {}.
func ResultReply(id json.RawMessage, result any) ([]byte, error) {
	if len(id) == 0 {
		id = nullID
	}
	if result == nil {
		result = struct{}{}
	}
	return marshal(reply{ID: id, Result: result})
}

// ErrorReply encodes {"id":…, "error":{…}} for err.
func ErrorReply(id json.RawMessage, err error) []byte {
	if len(id) == 0 {
		id = nullID
	}
	b, mErr := marshal(reply{ID: id, Error: ErrorBodyFor(err)})
	if mErr != nil { // only details can fail to encode; drop them
		b, _ = marshal(reply{ID: id, Error: &ErrorBody{Code: CodeFor(err), Message: Messages[CodeFor(err)].EN, MessageZH: Messages[CodeFor(err)].ZH}})
	}
	return b
}

// EventMessage encodes {"event":name, "data":…}.
func EventMessage(name string, data any) ([]byte, error) {
	if data == nil {
		data = struct{}{}
	}
	return marshal(event{Event: name, Data: data})
}

// Hello is the first message the host writes.
type Hello struct {
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	// Build is "release", or "development" for a build that trusts the
	// development extension, serves http://localhost pages and honours
	// virtualReader (the extension shows the difference).
	Build string `json:"build"`
}

// HelloMessage encodes the hello event, byte for byte what
// EventMessage(EventHello, h) gives, without encoding/json: the hello is
// the first thing a browser waits for, and encoding/json's first call
// (reflection, its encoder cache) costs about half a millisecond of
// start-up (make bench, row 4b).
func HelloMessage(h Hello) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"event":"hello","data":{"version":`...)
	b = appendJSONString(b, h.Version)
	b = append(b, `,"protocol":`...)
	b = strconv.AppendInt(b, int64(h.Protocol), 10)
	b = append(b, `,"build":`...)
	b = appendJSONString(b, h.Build)
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string the way marshal writes it
// (no HTML escaping): quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// The two kinds of build a host reports in hello.
const (
	BuildRelease     = "release"
	BuildDevelopment = "development"
)

// marshal encodes compact JSON without HTML escaping and without the
// trailing newline json.Encoder adds.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
