package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Finding 1: the exchange's args are written into a line of their own by
// the relay; a frame may carry line breaks between JSON tokens, which
// would cut that line and let the rest be read as a request of its own.
// The object is kept compacted: no byte of it ends a line.
func TestAttackExchangeArgsCompacted(t *testing.T) {
	injected := "{\"a\":\n{\"id\":1,\"op\":\"login\",\"args\":{\"pin\":\"999999\"}}\r\n , \"b\" : [ 1 ,\t2 ] }"
	var a ExchangeArgs
	require.NoError(t, DecodeArgs(json.RawMessage(`{"op":"list","args":`+injected+`}`), &a))
	assert.NotContains(t, string(a.Args), "\n")
	assert.NotContains(t, string(a.Args), "\r")
	assert.Equal(t, `{"a":{"id":1,"op":"login","args":{"pin":"999999"}},"b":[1,2]}`, string(a.Args))

	// A line break inside a string is escaped in valid JSON; it stays so.
	require.NoError(t, DecodeArgs(json.RawMessage(`{"op":"list","args":{"text":"a\nb"}}`), &a))
	assert.Equal(t, `{"text":"a\nb"}`, string(a.Args))
}

// Finding 2: a pin inside args. The relay puts the PIN typed in the PIN
// window into args as "pin"; the agent decodes args with encoding/json,
// which takes the last of two keys, regardless of case and escapes. A pin
// in args would override the typed PIN (login, send) or reach the agent
// on requests that take none.
func TestAttackExchangePINInArgs(t *testing.T) {
	for _, in := range []string{
		`{"op":"login","args":{"pin":"999999"},"pin":"123456"}`,
		`{"op":"login","args":{"PIN":"999999"},"pin":"123456"}`,
		`{"op":"login","args":{"Pin":"999999","reader":"R"},"pin":"123456"}`,
		`{"op":"login","args":{"p\u0069n":"999999"},"pin":"123456"}`,
		`{"op":"send","args":{"to":["XC10458570"],"pin":"999999"},"pin":"123456"}`,
		`{"op":"send","args":{"to":["XC10458570"],"pin":null},"pin":"123456"}`,
		`{"op":"list","args":{"pin":"123456"}}`,
		`{"op":"status","args":{"pIN":1}}`,
	} {
		var a ExchangeArgs
		err := DecodeArgs(json.RawMessage(in), &a)
		require.Error(t, err, in)
		assert.Equal(t, ErrBadArgument, CodeFor(err), in)
		assert.Equal(t, "args", Details(err)["argument"], in)
		assert.NotContains(t, err.Error(), "999999")
		assert.NotContains(t, err.Error(), "123456")
	}
	// Keys that only look alike, and a pin deeper down, are the agent's to
	// refuse (its structs have no such field): passed on.
	for _, in := range []string{
		`{"op":"login","args":{"reader":"pin"},"pin":"123456"}`,
		`{"op":"send","args":{"files":[{"pin":"1"}],"pinx":1},"pin":"123456"}`,
		`{"op":"list","args":{"Pın":"1"}}`, // dotless ı: encoding/json does not fold it to i
	} {
		var a ExchangeArgs
		require.NoError(t, DecodeArgs(json.RawMessage(in), &a), in)
	}
}

// Arguments at the cap: an args object of exactly MaxExchangeArgs bytes is
// taken, one byte more is refused before it is kept.
func TestAttackExchangeArgsAtTheCap(t *testing.T) {
	pad := MaxExchangeArgs - len(`{"x":""}`)
	at := `{"x":"` + strings.Repeat("A", pad) + `"}`
	var a ExchangeArgs
	require.NoError(t, DecodeArgs(json.RawMessage(`{"op":"list","args":`+at+`}`), &a))
	assert.Len(t, a.Args, MaxExchangeArgs)
	over := `{"x":"` + strings.Repeat("A", pad+1) + `"}`
	err := DecodeArgs(json.RawMessage(`{"op":"list","args":`+over+`}`), &a)
	require.Error(t, err)
	assert.Equal(t, "args", Details(err)["argument"])
	// Whitespace counts against the cap as sent (it is checked before the
	// object is compacted): no way around the cap either way.
	spaced := `{"x":"` + strings.Repeat("A", pad) + `"  }`
	err = DecodeArgs(json.RawMessage(`{"op":"list","args":`+spaced+`}`), &a)
	require.Error(t, err)
}
