package origin

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// vector is one row of testdata/origins.json.
type vector struct {
	Origin string `json:"origin"`
	OK     bool   `json:"ok"`
	Why    string `json:"why"`
}

// TestVectors holds Check to testdata/origins.json. The browser extension's
// copy of the rule (extension/src/origin.js) is held to the same table by
// extension/test/origin.test.js, so the table is the one definition both
// sides follow: a change to the rule starts there.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/origins.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var vs []vector
	if err := dec.Decode(&vs); err != nil {
		t.Fatalf("testdata/origins.json: %v", err)
	}
	if len(vs) < 50 {
		t.Fatalf("testdata/origins.json has %d vectors, want at least 50", len(vs))
	}
	seen := map[string]bool{}
	accepted := 0
	for _, v := range vs {
		if v.Why == "" {
			t.Errorf("%q: no why", v.Origin)
		}
		if seen[v.Origin] {
			t.Errorf("%q listed twice", v.Origin)
		}
		seen[v.Origin] = true
		if v.OK {
			accepted++
		}
		if err := Check(v.Origin); (err == nil) != v.OK {
			t.Errorf("Check(%q) = %v, want ok=%v (%s)", v.Origin, err, v.OK, v.Why)
		}
	}
	if accepted == 0 || accepted == len(vs) {
		t.Errorf("%d of %d vectors accepted, want both kinds", accepted, len(vs))
	}
}
