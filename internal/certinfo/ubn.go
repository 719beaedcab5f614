package certinfo

// ubnWeights are the per-digit weights of the 統一編號 checksum
// (財政部財政資訊中心, https://www.fia.gov.tw/).
var ubnWeights = [8]int{1, 2, 1, 2, 1, 2, 4, 1}

// ubnSum returns the 統一編號 digit sum (each weighted product contributes
// its tens digit plus its units digit) and whether ubn is exactly 8 ASCII
// digits. Full-width digits and any other characters are rejected.
func ubnSum(ubn string) (sum int, ok bool) {
	if len(ubn) != len(ubnWeights) {
		return 0, false
	}
	for i := 0; i < len(ubn); i++ {
		c := ubn[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		p := int(c-'0') * ubnWeights[i]
		sum += p/10 + p%10
	}
	return sum, true
}

// validUBN applies the checksum with the given divisor. When the 7th digit
// is 7 its product 28 gives 10, which may be counted as 1 or 0, so sum+1 is
// also accepted.
func validUBN(ubn string, divisor int) bool {
	sum, ok := ubnSum(ubn)
	if !ok {
		return false
	}
	return sum%divisor == 0 || (ubn[6] == '7' && (sum+1)%divisor == 0)
}

// ValidUBN reports whether ubn is a well-formed 統一編號 under the rule in
// force since 2023-04-01: 8 ASCII digits whose weighted digit sum is
// divisible by 5, with the 7th-digit-7 case also accepting sum+1. Every
// number valid under the old rule ([ValidUBNOld]) is valid under this one.
func ValidUBN(ubn string) bool { return validUBN(ubn, 5) }

// ValidUBNOld reports whether ubn passes the checksum in force before
// 2023-04-01 (divisible by 10). It is kept for information only: numbers
// issued since then may fail it and still be valid.
func ValidUBNOld(ubn string) bool { return validUBN(ubn, 10) }
