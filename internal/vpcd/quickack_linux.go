package vpcd

import (
	"net"
	"syscall"
)

// quickAck sets TCP_QUICKACK. vpcd writes the length prefix and the APDU as
// two small segments without TCP_NODELAY; with the kernel's delayed ACK
// every exchange then waits about 40 ms (tcp(7), TCP_QUICKACK and the
// delayed-ACK timer). Linux clears the flag after it sends an ACK, so it is
// set again before every read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
