module github.com/cardbridge/cardbridge

go 1.26.0

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25
	github.com/smallstep/pkcs7 v0.2.3
	golang.org/x/term v0.48.0
)

require golang.org/x/sys v0.50.0 // indirect
