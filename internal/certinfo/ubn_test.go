package certinfo

import "testing"

func TestValidUBN(t *testing.T) {
	tests := []struct {
		ubn      string
		new, old bool
	}{
		// Vectors worked by hand with the 財政部財政資訊中心 rule (see ubn.go).
		{"04595252", true, false}, // MOF example: sum 35, valid only under the new rule
		{"10458570", true, false}, // MOF example: sum 25, valid only under the new rule
		{"04595257", true, true},  // sum 40
		{"10458575", true, true},  // sum 30
		{"10458574", true, true},  // 7th digit 7: sum 29, 29+1 accepted
		{"22099131", true, true},  // a real company UBN, sum 30
		// Checksum failures.
		{"04595253", false, false},
		{"12345678", false, false},
		{"10458571", false, false}, // 7th digit 7: sum 26, 27 not divisible either
		{"22099132", false, false},
		// Malformed input.
		{"", false, false},
		{"0459525", false, false},   // 7 digits
		{"045952520", false, false}, // 9 digits
		{"0459525A", false, false},
		{"abcdefgh", false, false},
		{"0459 252", false, false},
		{" 4595252", false, false},
		{"-4595252", false, false},
		{"０４５９５２５２", false, false}, // full-width digits
		{"0459525２", false, false}, // one full-width digit (10 bytes)
		{"٠٤٥٩٥٢٥٢", false, false}, // Arabic-Indic digits
	}
	for _, tc := range tests {
		if got := ValidUBN(tc.ubn); got != tc.new {
			t.Errorf("ValidUBN(%q) = %v, want %v", tc.ubn, got, tc.new)
		}
		if got := ValidUBNOld(tc.ubn); got != tc.old {
			t.Errorf("ValidUBNOld(%q) = %v, want %v", tc.ubn, got, tc.old)
		}
	}
}

func TestUBNSum(t *testing.T) {
	tests := []struct {
		ubn  string
		want int
	}{
		{"04595252", 35},
		{"10458570", 25},
		{"04595257", 40},
		{"10458575", 30},
		{"10458574", 29},
		{"22099131", 30},
	}
	for _, tc := range tests {
		if got, ok := ubnSum(tc.ubn); !ok || got != tc.want {
			t.Errorf("ubnSum(%q) = %d, %v, want %d, true", tc.ubn, got, ok, tc.want)
		}
	}
}
