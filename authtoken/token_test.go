package authtoken

import (
	"encoding/json"
	"strings"
	"testing"
)

// goodJSON is a well-formed token; its base64 fields are placeholders,
// which Parse does not decode.
const goodJSON = `{"format":"cardbridge:1","certificate":"MIIB","algorithm":"ES256","signature":"AAAA","appVersion":"0.1.0"}`

var goodToken = Token{Format: Format, Certificate: "MIIB", Algorithm: ES256, Signature: "AAAA", AppVersion: "0.1.0"}

func TestParse(t *testing.T) {
	pad := func(n int) string { // goodJSON followed by spaces, n bytes in all
		return goodJSON + strings.Repeat(" ", n-len(goodJSON))
	}
	tests := []struct {
		name string
		in   string
		want *Token // nil: ErrMalformed
	}{
		{"good", goodJSON, &goodToken},
		{"white space", " \n\t{ \"format\" : \"cardbridge:1\" ,\r\n\"certificate\":\"MIIB\",\"algorithm\":\"ES256\",\"signature\":\"AAAA\",\"appVersion\":\"0.1.0\"}\n", &goodToken},
		{"other key order", `{"signature":"AAAA","appVersion":"0.1.0","algorithm":"ES256","certificate":"MIIB","format":"cardbridge:1"}`, &goodToken},
		{"no appVersion", `{"format":"cardbridge:1","certificate":"MIIB","algorithm":"ES256","signature":"AAAA"}`,
			&Token{Format: Format, Certificate: "MIIB", Algorithm: ES256, Signature: "AAAA"}},
		{"escaped string", `{"format":"cardbridge\u003a1","certificate":"MIIB","algorithm":"ES256","signature":"AAAA","appVersion":"0.1.0"}`, &goodToken},
		{"unknown format parses", strings.Replace(goodJSON, "cardbridge:1", "web-eid:1.0", 1),
			&Token{Format: "web-eid:1.0", Certificate: "MIIB", Algorithm: ES256, Signature: "AAAA", AppVersion: "0.1.0"}},
		{"exactly MaxTokenSize", pad(MaxTokenSize), &goodToken},

		{"empty", "", nil},
		{"white space only", "  ", nil},
		{"null", "null", nil},
		{"array", "[" + goodJSON + "]", nil},
		{"string", `"cardbridge:1"`, nil},
		{"empty object", "{}", nil},
		{"unknown field", strings.Replace(goodJSON, `}`, `,"origin":"https://site.example"}`, 1), nil},
		{"field name in other case", strings.Replace(goodJSON, `"format"`, `"Format"`, 1), nil},
		{"duplicate field", strings.Replace(goodJSON, `}`, `,"algorithm":"RS256"}`, 1), nil},
		{"number", strings.Replace(goodJSON, `"0.1.0"`, `1`, 1), nil},
		{"null value", strings.Replace(goodJSON, `"0.1.0"`, `null`, 1), nil},
		{"boolean", strings.Replace(goodJSON, `"ES256"`, `true`, 1), nil},
		{"object value", strings.Replace(goodJSON, `"AAAA"`, `{"r":"AA"}`, 1), nil},
		{"array value", strings.Replace(goodJSON, `"MIIB"`, `["MIIB"]`, 1), nil},
		{"missing format", `{"certificate":"MIIB","algorithm":"ES256","signature":"AAAA"}`, nil},
		{"missing certificate", `{"format":"cardbridge:1","algorithm":"ES256","signature":"AAAA"}`, nil},
		{"missing algorithm", `{"format":"cardbridge:1","certificate":"MIIB","signature":"AAAA"}`, nil},
		{"missing signature", `{"format":"cardbridge:1","certificate":"MIIB","algorithm":"ES256"}`, nil},
		{"empty signature", strings.Replace(goodJSON, `"AAAA"`, `""`, 1), nil},
		{"trailing garbage", goodJSON + "x", nil},
		{"trailing object", goodJSON + goodJSON, nil},
		{"trailing NUL", goodJSON + "\x00", nil},
		{"trailing comma", strings.Replace(goodJSON, `}`, `,}`, 1), nil},
		{"missing colon", strings.Replace(goodJSON, `"format":`, `"format" `, 1), nil},
		{"single quotes", strings.ReplaceAll(goodJSON, `"`, `'`), nil},
		{"truncated", goodJSON[:len(goodJSON)-1], nil},
		{"byte order mark", "\ufeff" + goodJSON, nil},
		{"raw control character", strings.Replace(goodJSON, "0.1.0", "0.1\n.0", 1), nil},
		{"oversize", pad(MaxTokenSize + 1), nil},
		{"oversize garbage", strings.Repeat("x", 1<<20), nil},
	}
	for _, tc := range tests {
		got, err := Parse([]byte(tc.in))
		if tc.want == nil {
			if !checkErr(err, ErrMalformed) || got != nil {
				t.Errorf("Parse(%s) = %+v, %v, want nil, %v", tc.name, got, err, ErrMalformed)
			}
			continue
		}
		if err != nil || *got != *tc.want {
			t.Errorf("Parse(%s) = %+v, %v, want %+v, nil", tc.name, got, err, *tc.want)
		}
	}
}

// TestParseMarshal checks that what encoding/json writes for a Token, as
// the host does, parses back to the same Token.
func TestParseMarshal(t *testing.T) {
	for _, tok := range []Token{goodToken, {Format: Format, Certificate: "c", Algorithm: PS256, Signature: "s"},
		{Format: "格式\u2028<&>", Certificate: "\"\\/", Algorithm: "\x01", Signature: "\U0001F600"}} {
		b, err := json.Marshal(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Parse(b); err != nil || *got != tok {
			t.Errorf("Parse(%s) = %+v, %v, want %+v, nil", b, got, err, tok)
		}
	}
}
