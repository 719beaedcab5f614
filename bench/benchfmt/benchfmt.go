// Package benchfmt formats the bench drivers' figures one way.
package benchfmt

import "fmt"

// Ratio prints num/den as "1.7x" (whole above 100x); n/a when den is zero.
func Ratio(num, den float64) string {
	switch {
	case den == 0:
		return "n/a"
	case num/den >= 100:
		return fmt.Sprintf("%.0fx", num/den)
	}
	return fmt.Sprintf("%.1fx", num/den)
}
