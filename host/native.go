package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// caller is the browser extension that started the host.
type caller struct {
	// Browser is "chromium" (Chrome, Edge, Chromium) or "firefox".
	Browser string
	// ID is the Chrome-family extension ID or the Firefox add-on ID.
	ID string
}

// nativeCaller recognises a launch by a browser. Chrome-family browsers
// pass the caller's origin, chrome-extension://ID/, first (and on Windows
// --parent-window=N after it); Firefox passes the path of the host
// manifest and then the add-on ID. Anything else is the command line.
func nativeCaller(args []string) (caller, bool) {
	if len(args) >= 1 && strings.HasPrefix(args[0], "chrome-extension://") {
		for _, a := range args[1:] {
			if !strings.HasPrefix(a, "--parent-window=") {
				return caller{}, false
			}
		}
		id := strings.TrimSuffix(strings.TrimPrefix(args[0], "chrome-extension://"), "/")
		return caller{Browser: "chromium", ID: id}, true
	}
	if len(args) == 2 && strings.EqualFold(filepath.Ext(args[0]), ".json") && config.ValidExtensionID(args[1]) {
		return caller{Browser: "firefox", ID: args[1]}, true
	}
	return caller{}, false
}

// trustDevExtension says whether the development extension ID is built in.
// Its manifest key is public, so anyone can load an unpacked extension with
// that ID: release builds set it to "false" (-ldflags "-X
// main.trustDevExtension=false") and list the store IDs instead.
var trustDevExtension = "true"

// builtinAllowed reports whether c is one of CardBridge's own extensions.
func builtinAllowed(c caller) bool {
	switch c.Browser {
	case "cli": // a person at the terminal, not a browser (native --plain)
		return true
	case "firefox":
		return c.ID == install.FirefoxAddonID
	}
	return c.ID == install.DevExtensionID && trustDevExtension == "true"
}

// Host limits.
const (
	// maxInFlight caps requests handled at once; more get ERR_BUSY, so a
	// misbehaving page cannot make the host start unbounded work.
	maxInFlight = 8
	// requestTimeout bounds how long a request waits for a card another
	// request holds (a stuck card must not queue the session forever).
	requestTimeout = 2 * time.Minute
	// watchRetry is how long the event watcher waits before trying the
	// smart-card service again after it failed.
	watchRetry = 3 * time.Second
)

// native is one native-messaging session: the browser's port, from the
// hello to the end of stdin.
type native struct {
	caller caller
	cfg    config.Config
	log    *slog.Logger
	cards  *cards

	outMu sync.Mutex
	out   io.Writer
	// plain switches to one JSON message per line instead of frames, for
	// people and scripts (cardbridge native --plain).
	plain bool

	slots chan struct{}
	wg    sync.WaitGroup
}

// serveNative runs the native-messaging session and returns the exit
// status. Order matters for the browser's start-up time: the caller check
// against the built-in IDs and the hello come before anything slow (the
// configuration file, PC/SC).
func serveNative(c caller, stdin io.Reader, stdout, stderr io.Writer) int {
	return serve(c, false, stdin, stdout, stderr)
}

func serve(c caller, plain bool, stdin io.Reader, stdout, stderr io.Writer) int {
	n := &native{caller: c, out: stdout, plain: plain, slots: make(chan struct{}, maxInFlight)}
	n.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var cfgErr error
	loaded := false
	if !builtinAllowed(c) {
		n.cfg, cfgErr = config.Load(config.DefaultPaths())
		loaded = true
		if !slices.Contains(n.cfg.AllowedExtensions, c.ID) {
			n.log.Error("caller not allowed", "browser", c.Browser, "extension", c.ID)
			n.write(protocol.ErrorReply(nil, protocol.Errorf(protocol.ErrCallerNotAllowed, "extension %q is not allowed", c.ID)))
			return 1
		}
	}
	hello, _ := protocol.EventMessage(protocol.EventHello, protocol.Hello{Version: version, Protocol: protocol.Version})
	if err := n.write(hello); err != nil {
		return 1
	}
	if !loaded {
		n.cfg, cfgErr = config.Load(config.DefaultPaths())
	}
	closeLog := n.setupLog(stderr)
	defer closeLog()
	if cfgErr != nil {
		n.log.Warn("configuration ignored in part", "err", cfgErr)
	}
	n.log.Info("started", "version", version, "browser", c.Browser, "extension", c.ID, "pid", os.Getpid())
	n.cards = newCards(n.cfg, n.log)

	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		n.watch(ctx)
	}()
	status := n.readLoop(ctx, stdin)
	if plain {
		// A person or script piping requests in expects every answer:
		// finish them before cancelling, unlike a browser that has gone.
		n.wg.Wait()
	}
	cancel()
	n.wg.Wait()
	<-watchDone
	n.log.Info("stopped", "status", status)
	return status
}

// setupLog applies the configured level and adds the log file.
func (n *native) setupLog(stderr io.Writer) (closeLog func()) {
	level := slog.LevelInfo
	switch n.cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	handlers := []slog.Handler{slog.NewTextHandler(stderr, opts)}
	closeLog = func() {}
	if n.cfg.LogFile != "" {
		f, err := openLogFile(n.cfg.LogFile)
		if err != nil {
			n.log.Warn("log file not opened", "path", n.cfg.LogFile, "err", err)
		} else {
			handlers = append(handlers, slog.NewTextHandler(f, opts))
			closeLog = func() { f.Close() }
		}
	}
	n.log = slog.New(slog.NewMultiHandler(handlers...))
	return closeLog
}

// maxLogFile is the size at which the log file is moved to .1 and started
// anew, so the log takes at most about twice this on disk however long
// hosts run.
const maxLogFile = 4 << 20

// logFile appends to a file and rotates it when it passes maxLogFile.
// Several hosts (one per browser port) may append to the same file; one
// that rotates leaves the others writing to .1 until their next rotation
// or restart, which loses nothing.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

func openLogFile(path string) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l := &logFile{path: path}
	return l, l.open()
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size+int64(len(p)) > maxLogFile {
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// write sends one frame; frames from concurrent handlers never interleave.
func (n *native) write(body []byte) error {
	n.outMu.Lock()
	defer n.outMu.Unlock()
	if n.plain {
		if len(body) > protocol.MaxResponseSize {
			return &protocol.FrameError{Size: uint32(len(body)), Err: protocol.ErrOversizeResponse}
		}
		_, err := n.out.Write(append(body, '\n'))
		return err
	}
	return protocol.WriteFrame(n.out, body)
}

// lineReader reads plain mode's messages: one JSON object per line.
func lineReader(r io.Reader) func() ([]byte, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), protocol.MaxRequestSize)
	return func() ([]byte, error) {
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				return bytes.Clone(line), nil
			}
		}
		if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
			return nil, &protocol.FrameError{Size: protocol.MaxRequestSize + 1, Err: protocol.ErrFrameTooLarge}
		} else if err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
}

// readLoop reads requests until stdin ends. It returns 0 on a clean end
// and 1 when the stream is broken beyond recovery.
func (n *native) readLoop(ctx context.Context, stdin io.Reader) int {
	read := func() ([]byte, error) { return protocol.ReadFrame(stdin) }
	if n.plain {
		read = lineReader(stdin)
	}
	for {
		frame, err := read()
		var fe *protocol.FrameError
		switch {
		case errors.Is(err, io.EOF):
			return 0
		case errors.As(err, &fe) && fe.Resynced:
			n.log.Warn("frame refused", "size", fe.Size, "err", fe.Err)
			n.write(protocol.ErrorReply(nil, err))
			continue
		case err != nil:
			n.log.Error("input broken, stopping", "err", err)
			n.write(protocol.ErrorReply(nil, err))
			return 1
		}
		req, err := protocol.ParseRequest(frame)
		clear(frame) // a PIN may be in it
		if err != nil {
			clear(req.Args)
			n.log.Warn("request refused", "id", string(req.ID), "command", req.Command, "code", protocol.CodeFor(err), "err", err)
			n.write(protocol.ErrorReply(req.ID, err))
			continue
		}
		select {
		case n.slots <- struct{}{}:
		default:
			clear(req.Args)
			n.write(protocol.ErrorReply(req.ID, protocol.Errorf(protocol.ErrBusy, "%d requests in flight", maxInFlight)))
			continue
		}
		n.wg.Add(1)
		go func() {
			defer func() { <-n.slots; n.wg.Done() }()
			n.handle(ctx, req)
		}()
	}
}

// handle runs one request and writes its reply.
func (n *native) handle(ctx context.Context, req *protocol.Request) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil { // a bug must cost one request, not the session
			n.log.Error("panic", "command", req.Command, "panic", fmt.Sprint(r))
			n.write(protocol.ErrorReply(req.ID, fmt.Errorf("panic in %s", req.Command)))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	result, err := n.dispatch(ctx, req)
	clear(req.Args)
	var body []byte
	if err == nil {
		body, err = protocol.ResultReply(req.ID, result)
	}
	if err == nil {
		if err = n.write(body); errors.Is(err, protocol.ErrOversizeResponse) {
			n.write(protocol.ErrorReply(req.ID, err))
		}
	} else {
		n.write(protocol.ErrorReply(req.ID, err))
	}
	attrs := []any{"id", string(req.ID), "command", req.Command, "origin", req.Origin, "ms", time.Since(start).Milliseconds()}
	if err != nil {
		code := protocol.CodeFor(err)
		attrs = append(attrs, "code", code)
		if code == protocol.ErrInternal {
			attrs = append(attrs, "err", err)
		}
		n.log.Warn("request failed", attrs...)
		return
	}
	n.log.Info("request done", attrs...)
}

// originRequired lists the commands a web page must not call anonymously:
// the token binds the origin, and the origin is what the user is shown.
var originRequired = map[string]bool{protocol.CmdAuthenticate: true}

// extensionOnly lists commands only the extension itself (no page origin)
// may call.
var extensionOnly = map[string]bool{protocol.CmdConfig: true}

// dispatch decodes the arguments of req and runs its command.
func (n *native) dispatch(ctx context.Context, req *protocol.Request) (any, error) {
	if originRequired[req.Command] && req.Origin == "" {
		return nil, protocol.Errorf(protocol.ErrBadOrigin, "%s needs the page's origin", req.Command)
	}
	if extensionOnly[req.Command] && req.Origin != "" {
		return nil, protocol.Errorf(protocol.ErrUnknownCommand, "%s is not available to web pages", req.Command)
	}
	switch req.Command {
	case protocol.CmdVersion:
		var a protocol.NoArgs
		return withArgs(req, &a, func() (any, error) { return n.version(), nil })
	case protocol.CmdReaders:
		var a protocol.NoArgs
		return withArgs(req, &a, func() (any, error) { return n.cards.readers(ctx) })
	case protocol.CmdCheck:
		var a protocol.ReaderArgs
		return withArgs(req, &a, func() (any, error) { return n.cards.check(ctx, a.Reader) })
	case protocol.CmdConfig:
		var a protocol.NoArgs
		return withArgs(req, &a, func() (any, error) { return n.configResult(), nil })
	case protocol.CmdCertificates:
		var a protocol.ReaderArgs
		return withArgs(req, &a, func() (any, error) { return n.cards.certificates(ctx, a.Reader) })
	case protocol.CmdSign:
		var a protocol.SignArgs
		// A closure: withArgs sets the secrets after this defer, and
		// `defer a.PIN.Wipe()` would wipe the nil slice it saw here.
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return n.cards.sign(ctx, &a) })
	case protocol.CmdAuthenticate:
		var a protocol.AuthenticateArgs
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return n.cards.authenticate(ctx, req.Origin, &a) })
	case protocol.CmdDecrypt:
		var a protocol.DecryptArgs
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return n.cards.decrypt(ctx, &a) })
	case protocol.CmdPINStatus:
		var a protocol.CardArgs
		return withArgs(req, &a, func() (any, error) { return n.cards.pinStatus(ctx, a) })
	case protocol.CmdChangePIN:
		var a protocol.ChangePINArgs
		defer func() { a.PIN.Wipe(); a.NewPIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return n.cards.changePIN(ctx, &a) })
	case protocol.CmdUnblockPIN:
		var a protocol.UnblockPINArgs
		defer func() { a.PUK.Wipe(); a.NewPIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return n.cards.unblockPIN(ctx, &a) })
	}
	return nil, &protocol.Error{Code: protocol.ErrUnknownCommand, Details: map[string]any{"command": req.Command}, Err: fmt.Errorf("unknown command %q", req.Command)}
}

// withArgs decodes req's arguments into a, then runs f.
func withArgs(req *protocol.Request, a any, f func() (any, error)) (any, error) {
	if err := protocol.DecodeArgs(req.Args, a); err != nil {
		return nil, err
	}
	return f()
}

func (n *native) version() protocol.VersionResult {
	return protocol.VersionResult{Version: version, Protocol: protocol.Version, OS: runtime.GOOS, Arch: runtime.GOARCH, Commands: protocol.Commands}
}

// configResult tells the extension the settings it acts on.
func (n *native) configResult() any {
	origins := n.cfg.ApprovedOrigins
	if origins == nil {
		origins = []string{}
	}
	return map[string]any{"approvedOrigins": origins, "virtualReader": n.cfg.VirtualReader != ""}
}

// watch pushes reader and card events until ctx ends. When the smart-card
// service is missing it tries again every watchRetry.
func (n *native) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := n.cards.watch(ctx, func(name string, r protocol.Reader) {
			b, err := protocol.EventMessage(name, r)
			if err == nil {
				n.write(b)
			}
		})
		if ctx.Err() != nil {
			return
		}
		n.log.Debug("watcher stopped", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
}
