// Package nativeclient is the one Go client of CardBridge's native-messaging
// protocol (docs/protocol.md), shared by the integration tests
// (internal/integration) and the bench (bench/). It is for tests and the
// bench only: the shipped host must never link it.
//
// It owns:
//
//   - starting a host process the way a browser does: argv is the calling
//     extension's origin, chrome-extension://ID/ (Chrome family, see
//     ChromeArgs), or Firefox's manifest path and add-on ID (FirefoxArgs);
//     stdin and stdout on pipes, stderr collected (Start, Stderr);
//   - framing: a uint32 length in the machine's native byte order, then the
//     JSON. Frames are read with protocol.ReadFrame; they are written with
//     Frame, not protocol.WriteFrame, because WriteFrame caps a frame at the
//     host→browser limit (1 MiB) while a browser may send up to 64 MiB and
//     the tests send oversize frames on purpose;
//   - requests with ids the client numbers 1, 2, … (Request, Send, Call);
//   - a goroutine that reads frames as the host writes them and stamps each
//     with the time it was read (Message.At), so a caller's timing does not
//     depend on when it gets round to reading;
//   - waiting for the reply to an id while setting aside the events that
//     come first (Reply, Replies, Call), and waiting for an event, set
//     aside earlier or new (WaitEvent);
//   - the end of a session as a browser ends it, by closing stdin, and the
//     exit status (CloseStdin, Exit, WaitExit, Close, Kill);
//   - the host's peak resident set (VmHWM) from /proc on Linux (PeakRSS).
//
// It reports failures as errors and never calls testing.T, so that the
// bench, a plain program, uses it as the tests do.
package nativeclient
