// Command minimalhost-pcsc is the second peer of the bench's native-host
// start-up rows: bench/minimalhost linked with cgo to libpcsclite through
// github.com/ebfe/scard, the PC/SC binding CardBridge uses. It writes the
// same hello frame before calling anything in the library, so from
// fork/exec to its first frame it pays what any Go host that talks PC/SC
// must: the dynamic loader (libpcsclite, libc), the cgo runtime, and
// scard's package initialisation. The start-up target is a ratio over it.
package main

import (
	"encoding/binary"
	"io"
	"os"

	"github.com/ebfe/scard"
)

// hello has the shape of CardBridge's hello event.
const hello = `{"event":"hello","data":{"version":"minimal-pcsc","protocol":1}}`

func main() {
	frame := binary.NativeEndian.AppendUint32(nil, uint32(len(hello)))
	frame = append(frame, hello...)
	if _, err := os.Stdout.Write(frame); err != nil {
		os.Exit(1)
	}
	// Never true when a browser starts it; the call keeps libpcsclite a
	// real dependency however the linker treats an unused import.
	if len(os.Args) > 3 {
		if c, err := scard.EstablishContext(); err == nil {
			c.Release()
		}
	}
	io.Copy(io.Discard, os.Stdin)
}
