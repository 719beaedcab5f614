package protocol

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// updateExtension rewrites the files generated for the browser extension
// instead of comparing them.
var updateExtension = flag.Bool("update", false, "rewrite extension/src/hostcodes.js from Codes and Messages")

// hostCodesPath is the extension's copy of the host's error texts.
var hostCodesPath = filepath.Join("..", "..", "extension", "src", "hostcodes.js")

// TestExtensionCodes keeps extension/src/hostcodes.js, the host's codes and
// texts as the extension shows them, generated from Codes and Messages, so
// the two cannot drift apart. Run with -update after changing a text.
func TestExtensionCodes(t *testing.T) {
	if _, err := os.Stat(filepath.Dir(hostCodesPath)); os.IsNotExist(err) {
		t.Skip("no extension/src next to this module")
	}
	want, err := renderHostCodes()
	if err != nil {
		t.Fatal(err)
	}
	if *updateExtension {
		if err := os.WriteFile(hostCodesPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", hostCodesPath)
		return
	}
	got, err := os.ReadFile(hostCodesPath)
	if err != nil {
		t.Fatalf("%v; run go test ./internal/protocol -run TestExtensionCodes -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from Codes and Messages; run go test ./internal/protocol -run TestExtensionCodes -update", hostCodesPath)
	}
}

// renderHostCodes is the text of extension/src/hostcodes.js: an ES module
// with one frozen object of every code's texts, in the order of Codes.
func renderHostCodes() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// @ts-check\n")
	b.WriteString("// Generated from internal/protocol/codes.go by `go test ./internal/protocol -run TestExtensionCodes -update`; do not edit.\n")
	b.WriteString("\n")
	b.WriteString("/**\n")
	b.WriteString(" * The host's error codes and their texts (protocol.Messages), in the order of\n")
	b.WriteString(" * protocol.Codes (docs/protocol.md §5). src/codes.js adds the extension's own.\n")
	b.WriteString(" * @type {Readonly<Record<string, Readonly<{en: string, zh: string}>>>}\n")
	b.WriteString(" */\n")
	b.WriteString("export const hostTexts = Object.freeze({\n")
	for _, c := range Codes {
		m, ok := Messages[c]
		if !ok {
			continue // TestMessagesComplete reports it
		}
		en, err := jsString(m.EN)
		if err != nil {
			return nil, err
		}
		zh, err := jsString(m.ZH)
		if err != nil {
			return nil, err
		}
		b.WriteString("  " + string(c) + ": Object.freeze({\n")
		b.WriteString("    en: " + en + ",\n")
		b.WriteString("    zh: " + zh + ",\n")
		b.WriteString("  }),\n")
	}
	b.WriteString("});\n")
	return b.Bytes(), nil
}

// jsString writes s as a JavaScript string literal: JSON, whose strings are
// JavaScript strings (the encoder escapes U+2028 and U+2029), without HTML
// escaping so the file stays readable.
func jsString(s string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}
