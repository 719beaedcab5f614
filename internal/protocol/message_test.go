package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type parseCase struct {
	name string
	in   string
	// On success: the request. On failure: the code, and the id the
	// request still carries (nil when it could not be read).
	want    Request
	wantErr Code
}

var parseRequestCases = []parseCase{
	// Valid requests.
	{"integer id", `{"id":1,"command":"version"}`, Request{ID: raw(`1`), Command: "version", Args: raw(`{}`)}, ""},
	{"string id", `{"id":"req-1","command":"readers","args":{}}`, Request{ID: raw(`"req-1"`), Command: "readers", Args: raw(`{}`)}, ""},
	{"with origin", `{"id":7,"command":"sign","origin":"https://example.gov.tw","args":{"pin":"123456"}}`,
		Request{ID: raw(`7`), Command: "sign", Origin: "https://example.gov.tw", Args: raw(`{"pin":"123456"}`)}, ""},
	{"key order free", `{"args":{"a":1},"origin":"http://localhost:3000","command":"check","id":"x"}`,
		Request{ID: raw(`"x"`), Command: "check", Origin: "http://localhost:3000", Args: raw(`{"a":1}`)}, ""},
	{"whitespace", " {\n\t\"id\" : 2 ,\r\n \"command\" : \"version\" , \"args\" : { } } \n",
		Request{ID: raw(`2`), Command: "version", Args: raw(`{ }`)}, ""},
	{"id zero", `{"id":0,"command":"version"}`, Request{ID: raw(`0`), Command: "version", Args: raw(`{}`)}, ""},
	{"id 2^53", `{"id":9007199254740992,"command":"version"}`, Request{ID: raw(`9007199254740992`), Command: "version", Args: raw(`{}`)}, ""},
	{"id 64 chars", `{"id":"` + long(64) + `","command":"version"}`, Request{ID: raw(`"` + long(64) + `"`), Command: "version", Args: raw(`{}`)}, ""},
	{"id with escapes echoed canonically", `{"id":"\u0041\/b c~","command":"version"}`, Request{ID: raw(`"A/b c~"`), Command: "version", Args: raw(`{}`)}, ""},
	{"id with HTML characters kept", `{"id":"a<b>&c","command":"version"}`, Request{ID: raw(`"a<b>&c"`), Command: "version", Args: raw(`{}`)}, ""},
	{"command 32 chars", `{"id":1,"command":"` + long(32) + `"}`, Request{ID: raw(`1`), Command: long(32), Args: raw(`{}`)}, ""},
	{"unknown command is the caller's to refuse", `{"id":1,"command":"frobnicate"}`, Request{ID: raw(`1`), Command: "frobnicate", Args: raw(`{}`)}, ""},

	// Not one JSON object.
	{"empty", ``, Request{}, ErrBadMessage},
	{"not JSON", `hello`, Request{}, ErrBadMessage},
	{"truncated", `{"id":1,"command":"version"`, Request{ID: raw(`1`)}, ErrBadMessage},
	{"array", `[{"id":1,"command":"version"}]`, Request{}, ErrBadMessage},
	{"string", `"version"`, Request{}, ErrBadMessage},
	{"number", `1`, Request{}, ErrBadMessage},
	{"null", `null`, Request{}, ErrBadMessage},
	{"trailing object", `{"id":1,"command":"version"}{}`, Request{ID: raw(`1`), Command: "version"}, ErrBadMessage},
	{"trailing garbage", `{"id":1,"command":"version"} x`, Request{ID: raw(`1`), Command: "version"}, ErrBadMessage},
	{"trailing comma", `{"id":1,"command":"version",}`, Request{ID: raw(`1`), Command: "version"}, ErrBadMessage},
	{"invalid UTF-8", "{\"id\":1,\"command\":\"version\",\"origin\":\"https://\xff\"}", Request{}, ErrBadMessage},
	{"invalid UTF-8 in unknown key", "{\"id\":1,\"command\":\"version\",\"\xc3\":1}", Request{}, ErrBadMessage},
	{"duplicate id", `{"id":1,"id":2,"command":"version"}`, Request{ID: raw(`1`)}, ErrBadMessage},
	{"duplicate command", `{"id":1,"command":"version","command":"sign"}`, Request{ID: raw(`1`), Command: "version"}, ErrBadMessage},
	{"duplicate by escape", `{"id":1,"command":"version","\u0063ommand":"sign"}`, Request{ID: raw(`1`), Command: "version"}, ErrBadMessage},
	{"unknown key", `{"id":1,"command":"version","arguments":{}}`, Request{ID: raw(`1`), Command: "version"}, ErrBadMessage},
	{"key in other case", `{"ID":1,"command":"version"}`, Request{}, ErrBadMessage},

	// id.
	{"id missing", `{"command":"version"}`, Request{Command: "version"}, ErrBadMessage},
	{"id negative", `{"id":-1,"command":"version"}`, Request{}, ErrBadMessage},
	{"id minus zero", `{"id":-0,"command":"version"}`, Request{}, ErrBadMessage},
	{"id fractional", `{"id":1.5,"command":"version"}`, Request{}, ErrBadMessage},
	{"id 1.0", `{"id":1.0,"command":"version"}`, Request{}, ErrBadMessage},
	{"id exponent", `{"id":1e3,"command":"version"}`, Request{}, ErrBadMessage},
	{"id 2^53+1", `{"id":9007199254740993,"command":"version"}`, Request{}, ErrBadMessage},
	{"id 2^64", `{"id":18446744073709551616,"command":"version"}`, Request{}, ErrBadMessage},
	{"id empty string", `{"id":"","command":"version"}`, Request{}, ErrBadMessage},
	{"id 65 chars", `{"id":"` + long(65) + `","command":"version"}`, Request{}, ErrBadMessage},
	{"id control character", `{"id":"a\u0007","command":"version"}`, Request{}, ErrBadMessage},
	{"id tab", `{"id":"a\tb","command":"version"}`, Request{}, ErrBadMessage},
	{"id DEL", `{"id":"a\u007f","command":"version"}`, Request{}, ErrBadMessage},
	{"id non-ASCII", `{"id":"識別","command":"version"}`, Request{}, ErrBadMessage},
	{"id bool", `{"id":true,"command":"version"}`, Request{}, ErrBadMessage},
	{"id null", `{"id":null,"command":"version"}`, Request{}, ErrBadMessage},
	{"id object", `{"id":{},"command":"version"}`, Request{}, ErrBadMessage},
	{"id array", `{"id":[1],"command":"version"}`, Request{}, ErrBadMessage},

	// command.
	{"command missing", `{"id":1}`, Request{ID: raw(`1`)}, ErrBadMessage},
	{"command empty", `{"id":1,"command":""}`, Request{ID: raw(`1`)}, ErrBadMessage},
	{"command number", `{"id":1,"command":1}`, Request{ID: raw(`1`)}, ErrBadMessage},
	{"command null", `{"id":1,"command":null}`, Request{ID: raw(`1`)}, ErrBadMessage},
	{"command 33 chars", `{"id":"q","command":"` + long(33) + `"}`, Request{ID: raw(`"q"`)}, ErrBadMessage},

	// args.
	{"args array", `{"id":1,"command":"sign","args":[]}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},
	{"args string", `{"id":1,"command":"sign","args":"{}"}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},
	{"args null", `{"id":1,"command":"sign","args":null}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},
	{"args number", `{"id":1,"command":"sign","args":0}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},
	{"args malformed", `{"id":1,"command":"sign","args":{"a":}}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},

	// origin.
	{"origin http", `{"id":1,"command":"sign","origin":"http://example.gov.tw"}`,
		Request{ID: raw(`1`), Command: "sign", Origin: "http://example.gov.tw"}, ErrBadOrigin},
	{"origin empty", `{"id":1,"command":"sign","origin":""}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadOrigin},
	{"origin null", `{"id":1,"command":"sign","origin":null}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},
	{"origin number", `{"id":1,"command":"sign","origin":1}`, Request{ID: raw(`1`), Command: "sign"}, ErrBadMessage},
	{"origin with path", `{"id":1,"command":"sign","origin":"https://x/p"}`,
		Request{ID: raw(`1`), Command: "sign", Origin: "https://x/p"}, ErrBadOrigin},
	{"origin bad before command missing", `{"id":1,"origin":"ftp://x"}`, Request{ID: raw(`1`), Origin: "ftp://x"}, ErrBadMessage},
}

func TestParseRequest(t *testing.T) {
	for _, tc := range parseRequestCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.in))
			if got == nil {
				t.Fatalf("ParseRequest(%q) returned a nil request", tc.in)
			}
			if c := CodeFor(err); c != tc.wantErr {
				t.Fatalf("ParseRequest(%q) error = %v (code %q), want code %q", tc.in, err, c, tc.wantErr)
			}
			if !bytes.Equal(got.ID, tc.want.ID) || (got.ID == nil) != (tc.want.ID == nil) {
				t.Errorf("ParseRequest(%q).ID = %q, want %q", tc.in, got.ID, tc.want.ID)
			}
			if err != nil {
				if tc.wantErr == ErrBadOrigin {
					if d := Details(err); d == nil || d["origin"] == nil {
						t.Errorf("ParseRequest(%q) details = %v, want origin", tc.in, d)
					}
				}
				return
			}
			if got.Command != tc.want.Command || got.Origin != tc.want.Origin || !bytes.Equal(got.Args, tc.want.Args) {
				t.Errorf("ParseRequest(%q) = {%q %q %q}, want {%q %q %q}", tc.in,
					got.Command, got.Origin, got.Args, tc.want.Command, tc.want.Origin, tc.want.Args)
			}
			if !json.Valid(got.ID) {
				t.Errorf("ParseRequest(%q).ID = %q, not valid JSON", tc.in, got.ID)
			}
		})
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func long(n int) string { return strings.Repeat("a", n) }

// A request whose id is valid keeps it when anything else is wrong, so the
// error reply can name the request it answers, whatever the order of keys.
func TestParseRequestKeepsID(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantID string
	}{
		{"bad command after id", `{"id":5,"command":""}`, `5`},
		{"command number after id", `{"id":"r1","command":3}`, `"r1"`},
		{"bad args after id", `{"id":5,"command":"sign","args":[]}`, `5`},
		{"unknown key after id", `{"id":5,"command":"sign","extra":1}`, `5`},
		{"bad origin", `{"id":5,"command":"sign","origin":"http://evil.example"}`, `5`},
		{"bad origin before id", `{"origin":"http://evil.example","command":"sign","id":5}`, `5`},
		{"missing command", `{"id":5}`, `5`},
		{"bad command before id", `{"command":"","id":5}`, `5`},
		{"bad args before id", `{"command":"sign","args":[],"id":5}`, `5`},
		{"unknown key before id", `{"extra":1,"command":"sign","id":"r2"}`, `"r2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseRequest([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseRequest(%s) = nil error, want one", tc.in)
			}
			if string(req.ID) != tc.wantID {
				t.Errorf("ParseRequest(%s).ID = %q, want %s", tc.in, req.ID, tc.wantID)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(ErrorReply(req.ID, err), &got); err != nil || string(got["id"]) != tc.wantID {
				t.Errorf("ErrorReply for %s: id = %s (%v), want %s", tc.in, got["id"], err, tc.wantID)
			}
		})
	}
}

// An id read from a request survives being echoed and read again unchanged.
func TestParseRequestIDRoundTrip(t *testing.T) {
	for _, id := range []string{`0`, `42`, `9007199254740992`, `"a"`, `"\u0041"`, `"a\"b\\c"`, `" ~"`, `"<&>"`} {
		req, err := ParseRequest([]byte(`{"id":` + id + `,"command":"version"}`))
		if err != nil {
			t.Fatalf("ParseRequest(id %s) = %v", id, err)
		}
		reply, err := ResultReply(req.ID, nil)
		if err != nil {
			t.Fatalf("ResultReply(%s) = %v", req.ID, err)
		}
		var echoed struct{ ID json.RawMessage }
		if err := json.Unmarshal(reply, &echoed); err != nil {
			t.Fatalf("reply %s: %v", reply, err)
		}
		again, err := ParseRequest([]byte(`{"id":` + string(echoed.ID) + `,"command":"version"}`))
		if err != nil || !bytes.Equal(again.ID, req.ID) {
			t.Errorf("id %s: echoed %s re-parses to %s (%v), want %s", id, echoed.ID, again.ID, err, req.ID)
		}
		var a, b any
		_ = json.Unmarshal([]byte(id), &a)
		_ = json.Unmarshal(req.ID, &b)
		if a != b {
			t.Errorf("id %s parsed to %s, a different value", id, req.ID)
		}
	}
}

// originCases are origins and whether CheckOrigin accepts them.
var originCases = []struct {
	origin string
	ok     bool
}{
	{"https://example.gov.tw", true},
	{"https://a.b:8443", true},
	{"https://x:1", true},
	{"https://x:65535", true},
	{"http://localhost", true},
	{"http://localhost:3000", true},
	{"http://127.0.0.1:8080", true},
	{"http://127.0.0.1", true},
	{"http://[::1]:1234", true},
	{"http://[::1]", true},
	{"https://[2001:db8::1]", true},
	{"https://xn--fiq228c.tw", true},
	{"https://192.0.2.1", true},
	{"https://" + strings.Repeat("a", MaxOriginLen-len("https://")), true},

	{"", false},
	{"http://example.gov.tw", false},
	{"http://localhost.example.com", false},
	{"http://127.0.0.1.example.com", false},
	{"http://[::2]", false},
	{"ftp://x", false},
	{"ws://localhost", false},
	{"https://", false},
	{"https:", false},
	{"https", false},
	{"//example.gov.tw", false},
	{"example.gov.tw", false},
	{"https://Example.com", false},
	{"HTTPS://example.com", false},
	{"https://x/", false},
	{"https://x/path", false},
	{"https://x?q", false},
	{"https://x?", false},
	{"https://x#f", false},
	{"https://x#", false},
	{"https://u@x", false},
	{"https://u:p@x", false},
	{"https://@x", false},
	{"https://x:0", false},
	{"https://x:65536", false},
	{"https://x:99999999999999999999", false},
	{"https://x:08", false},
	{"https://x:", false},
	{"https://x:-1", false},
	{"https://x:a", false},
	{"https://:443", false},
	{"https://[::1", false},
	{"chrome-extension://abc", false},
	{"moz-extension://abc", false},
	{"javascript:alert(1)", false},
	{"data:", false},
	{"data:text/html,x", false},
	{"file:///etc/passwd", false},
	{"null", false},
	{"https://" + strings.Repeat("a", MaxOriginLen-len("https://")+1), false},
	{"https://" + strings.Repeat("a", 300), false},
	{"https://exa mple.com", false},
	{" https://example.com", false},
	{"https://example.com ", false},
	{"https://example.com\n", false},
	{"https://example.com\x00", false},
	{"https://x\ty", false},
	{"https://\x7f", false},
	{"https://例子.tw", false},
	{"https://ｅxample.com", false},
	// Browsers percent-decode hosts, so an origin never holds '%'; Go's
	// parser would decode these to non-ASCII or '%'.
	{"https://%c3%a9.tw", false},
	{"https://x%25", false},
	{"https://[fe80::1%25eth0]", false},
	// Go's parser lets these through as hosts; no browser would.
	{"https://]", false},
	{"https://a]b", false},
	{"https://x]:80", false},
	{"https://a<b>", false},
	{"https://[::1]]", false},
	{"https://[127.0.0.1]", false},
	{"https://[zzz]", false},
}

func TestCheckOrigin(t *testing.T) {
	for _, tc := range originCases {
		t.Run(tc.origin, func(t *testing.T) {
			err := CheckOrigin(tc.origin)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckOrigin(%q) = %v, want ok %v", tc.origin, err, tc.ok)
			}
			if tc.ok {
				return
			}
			if c := CodeFor(err); c != ErrBadOrigin {
				t.Errorf("CodeFor(CheckOrigin(%q)) = %s, want %s", tc.origin, c, ErrBadOrigin)
			}
			d := Details(err)
			o, ok := d["origin"].(string)
			if !ok {
				t.Fatalf("Details(CheckOrigin(%q)) = %v, want an origin", tc.origin, d)
			}
			if len(o) > 80+len("…") {
				t.Errorf("Details origin is %d bytes, want it clipped to 80", len(o))
			}
		})
	}
}

func TestResultReply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		id     json.RawMessage
		result any
		want   string
	}{
		{"integer id", raw(`7`), map[string]int{"a": 1}, `{"id":7,"result":{"a":1}}`},
		{"string id", raw(`"r-1"`), PINResult{Reader: "R", TriesLeft: 3}, `{"id":"r-1","result":{"reader":"R","triesLeft":3}}`},
		{"nil id", nil, map[string]int{}, `{"id":null,"result":{}}`},
		{"empty id", raw(``), nil, `{"id":null,"result":{}}`},
		{"nil result", raw(`1`), nil, `{"id":1,"result":{}}`},
		{"no HTML escaping", raw(`1`), map[string]string{"s": "<a href='x'>&</a>"}, `{"id":1,"result":{"s":"<a href='x'>&</a>"}}`},
		{"bytes as base64", raw(`1`), DecryptResult{Plaintext: Bytes{0xfb, 0xff}}, `{"id":1,"result":{"plaintext":"+/8="}}`},
		{"non-ASCII", raw(`1`), Reader{Name: "讀卡機 1", Card: true}, `{"id":1,"result":{"name":"讀卡機 1","card":true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResultReply(tc.id, tc.result)
			if err != nil || string(got) != tc.want {
				t.Errorf("ResultReply(%s, %v) = %s, %v; want %s", tc.id, tc.result, got, err, tc.want)
			}
		})
	}
	if _, err := ResultReply(raw(`1`), map[string]any{"c": make(chan int)}); err == nil {
		t.Error("ResultReply(unencodable) = nil error, want one")
	}
}

type wireError struct {
	ID    json.RawMessage `json:"id"`
	Error struct {
		Code      Code           `json:"code"`
		Message   string         `json:"message"`
		MessageZH string         `json:"messageZh"`
		Details   map[string]any `json:"details"`
	} `json:"error"`
}

func TestErrorReply(t *testing.T) {
	// Domain errors reach ErrorReply already mapped (internal/errcode).
	wrongPIN := fmt.Errorf("sign: verify: %w", &Error{Code: ErrPINIncorrect, Details: map[string]any{"triesLeft": 2, "reference": "PIN"}})
	for _, tc := range []struct {
		name        string
		id          json.RawMessage
		err         error
		wantID      string
		wantCode    Code
		wantDetails map[string]any
	}{
		{"wrong PIN", raw(`3`), wrongPIN, `3`, ErrPINIncorrect, map[string]any{"triesLeft": 2.0, "reference": "PIN"}},
		{"PIN blocked", raw(`"b"`), &Error{Code: ErrPINBlocked, Details: map[string]any{"triesLeft": 0, "reference": "PIN"}}, `"b"`, ErrPINBlocked, map[string]any{"triesLeft": 0.0, "reference": "PIN"}},
		{"nil id", nil, Errorf(ErrBadMessage, "x"), `null`, ErrBadMessage, nil},
		{"empty id", raw(``), Errorf(ErrBadMessage, "x"), `null`, ErrBadMessage, nil},
		{"bad argument", raw(`4`), argErr(&ArgError{Arg: "pin", Reason: "longer than 16 bytes"}), `4`, ErrBadArgument,
			map[string]any{"argument": "pin", "reason": "longer than 16 bytes"}},
		{"bad origin", raw(`5`), CheckOrigin("http://x<y>"), `5`, ErrBadOrigin, map[string]any{"origin": "http://x<y>"}},
		{"oversize frame", nil, &FrameError{Size: MaxRequestSize + 1, Resynced: true, Err: ErrFrameTooLarge}, `null`, ErrMessageTooLarge,
			map[string]any{"size": float64(MaxRequestSize + 1), "limit": float64(MaxRequestSize)}},
		{"oversize response", raw(`6`), &FrameError{Size: MaxResponseSize + 1, Err: ErrOversizeResponse}, `6`, ErrResponseTooLarge,
			map[string]any{"size": float64(MaxResponseSize + 1), "limit": float64(MaxResponseSize)}},
		{"internal", raw(`8`), errors.New("card said 6F00 at /dev/secret"), `8`, ErrInternal, nil},
		{"unencodable details dropped", raw(`9`), &Error{Code: ErrBusy, Details: map[string]any{"c": make(chan int)}}, `9`, ErrBusy, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ErrorReply(tc.id, tc.err)
			if !json.Valid(b) {
				t.Fatalf("ErrorReply = %q, not JSON", b)
			}
			checkKeys(t, b, "id", "error")
			var got wireError
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("ErrorReply = %s: %v", b, err)
			}
			if string(got.ID) != tc.wantID || got.Error.Code != tc.wantCode {
				t.Errorf("ErrorReply = %s, want id %s code %s", b, tc.wantID, tc.wantCode)
			}
			m := Messages[tc.wantCode]
			if got.Error.Message != m.EN || got.Error.MessageZH != m.ZH || m.EN == "" || m.ZH == "" {
				t.Errorf("ErrorReply messages = %q / %q, want %q / %q", got.Error.Message, got.Error.MessageZH, m.EN, m.ZH)
			}
			if !reflect.DeepEqual(got.Error.Details, tc.wantDetails) {
				t.Errorf("ErrorReply details = %v, want %v", got.Error.Details, tc.wantDetails)
			}
			if tc.wantDetails == nil && bytes.Contains(b, []byte(`"details"`)) {
				t.Errorf("ErrorReply = %s, want no details key", b)
			}
			if msg := tc.err.Error(); msg != string(tc.wantCode) && bytes.Contains(b, []byte(msg)) {
				t.Errorf("ErrorReply = %s leaks the internal error text %q", b, tc.err)
			}
		})
	}
}

// Every code makes a reply with its messages in both languages, with the
// documented keys only.
func TestErrorReplyEveryCode(t *testing.T) {
	for _, c := range Codes {
		b := ErrorReply(raw(`1`), &Error{Code: c})
		var got struct {
			Error map[string]json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("ErrorReply(%s) = %s: %v", c, b, err)
		}
		keys := slices.Sorted(maps.Keys(got.Error))
		if want := []string{"code", "message", "messageZh"}; !slices.Equal(keys, want) {
			t.Errorf("ErrorReply(%s) error keys = %v, want %v", c, keys, want)
		}
		var wb wireError
		_ = json.Unmarshal(b, &wb)
		if wb.Error.Code != c || wb.Error.Message == "" || wb.Error.MessageZH == "" {
			t.Errorf("ErrorReply(%s) = %s, want code and both messages", c, b)
		}
		if bytes.Contains(b, []byte(`\u003c`)) || bytes.Contains(b, []byte(`\u0026`)) {
			t.Errorf("ErrorReply(%s) = %s, HTML-escaped", c, b)
		}
	}
}

func TestEventMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		data any
		want string
	}{
		{EventReaderAdded, Reader{Name: "ACS <1>", Card: true, ATR: "3B8F"}, `{"event":"readerAdded","data":{"name":"ACS <1>","card":true,"atr":"3B8F"}}`},
		{EventCardRemoved, nil, `{"event":"cardRemoved","data":{}}`},
		{EventHello, Hello{Version: "1.2.3", Protocol: Version, Build: BuildRelease}, `{"event":"hello","data":{"version":"1.2.3","protocol":1,"build":"release"}}`},
	} {
		got, err := EventMessage(tc.name, tc.data)
		if err != nil || string(got) != tc.want {
			t.Errorf("EventMessage(%q, %v) = %s, %v; want %s", tc.name, tc.data, got, err, tc.want)
		}
		checkKeys(t, got, "data", "event")
	}
}

// checkKeys checks that the JSON object b has exactly keys.
func checkKeys(t *testing.T, b []byte, keys ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s has keys %v, want %v", b, got, keys)
	}
}

func TestErrorType(t *testing.T) {
	cause := errors.New("cause")
	e := &Error{Code: ErrBusy, Err: cause}
	if !errors.Is(e, cause) || e.Error() != "ERR_BUSY: cause" {
		t.Errorf("Error = %q, Is(cause) = %v; want %q, true", e, errors.Is(e, cause), "ERR_BUSY: cause")
	}
	if got := (&Error{Code: ErrBusy}).Error(); got != "ERR_BUSY" {
		t.Errorf("Error without cause = %q, want ERR_BUSY", got)
	}
	if got := Errorf(ErrInternal, "n=%d", 3).Error(); got != "ERR_INTERNAL: n=3" {
		t.Errorf("Errorf = %q", got)
	}
}

// HelloMessage writes exactly what EventMessage writes for the hello, for
// every version string, including ones that need escaping.
func TestHelloMessage(t *testing.T) {
	for _, v := range []string{"0.1.0-dev", "", `a"b\c`, "tab\there\n", "\x00\x1f\b\f", "測試", "\u2028\u2029", "bad\xffutf8", "<&>"} {
		for _, b := range []string{BuildRelease, BuildDevelopment} {
			h := Hello{Version: v, Protocol: Version, Build: b}
			want, err := EventMessage(EventHello, h)
			if err != nil {
				t.Fatal(err)
			}
			if got := HelloMessage(h); string(got) != string(want) {
				t.Errorf("HelloMessage(%q) = %s, want %s", v, got, want)
			}
		}
	}
}

func FuzzHelloMessage(f *testing.F) {
	f.Add("0.1.0-dev", "release", 1)
	f.Add("\u2028\"\\\x01", "development", 0)
	f.Fuzz(func(t *testing.T, version, build string, proto int) {
		h := Hello{Version: version, Protocol: proto, Build: build}
		want, err := EventMessage(EventHello, h)
		if err != nil {
			t.Skip()
		}
		if got := HelloMessage(h); string(got) != string(want) {
			t.Fatalf("HelloMessage(%q, %q, %d) = %s, want %s", version, build, proto, got, want)
		}
	})
}
