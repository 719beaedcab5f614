// Command minimalhost is the peer of the bench's native-host start-up row:
// a plain Go native-messaging host that writes one hello frame and then
// waits for the end of stdin, which is how a browser ends a host. It is
// the floor a bare Go program reaches from fork/exec to its first frame.
package main

import (
	"encoding/binary"
	"io"
	"os"
)

// hello has the shape of CardBridge's hello event.
const hello = `{"event":"hello","data":{"version":"minimal","protocol":1}}`

func main() {
	frame := binary.NativeEndian.AppendUint32(nil, uint32(len(hello)))
	frame = append(frame, hello...)
	if _, err := os.Stdout.Write(frame); err != nil {
		os.Exit(1)
	}
	io.Copy(io.Discard, os.Stdin)
}
