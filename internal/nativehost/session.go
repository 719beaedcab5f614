package nativehost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cardbridge/cardbridge/internal/config"
	"github.com/cardbridge/cardbridge/internal/errcode"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Session limits.
const (
	// maxInFlight caps requests handled at once; more get ERR_BUSY, so a
	// misbehaving page cannot make the host start unbounded work.
	maxInFlight = 8
	// requestTimeout bounds how long a request waits for a card another
	// request holds (a stuck card must not queue the session forever).
	requestTimeout = 2 * time.Minute
	// watchRetry is how long the event watcher waits before trying the
	// event source again after it failed.
	watchRetry = 3 * time.Second
)

// Options configures Serve.
type Options struct {
	Caller Caller
	// Plain switches to one JSON message per line instead of frames, for
	// people and scripts (cardbridge native --plain).
	Plain bool
	// Version is the host's version, sent in the hello and by version.
	Version string
	// Development marks a development build: it admits the development
	// extension ID and serves http://localhost pages; a release build does
	// neither (the second only when the system configuration allows it).
	Development bool
	// StoreExtensionIDs are the Chrome Web Store and Edge Add-ons IDs of
	// CardBridge compiled into the build, admitted in every build.
	StoreExtensionIDs []string
	// LoadConfig reads the configuration; nil reads the default files.
	LoadConfig func() (config.Config, error)
	// NewAgent makes the agent once the configuration is read, which is
	// after the hello: nothing slow comes before the browser's first frame.
	NewAgent func(cfg config.Config, log *slog.Logger) Agent
	// ExchangeProgram finds cardbridge-exchange, which answers the
	// extension's exchange requests; nil refuses them.
	ExchangeProgram func() (string, error)
}

// session is one native-messaging session: the browser's port, from the
// hello to the end of stdin.
type session struct {
	o     Options
	cfg   config.Config
	log   *slog.Logger
	agent Agent

	outMu sync.Mutex
	out   io.Writer

	slots chan struct{}
	wg    sync.WaitGroup

	exchange *exchangeRelay
}

// Serve runs a session on stdin and stdout and returns the exit status.
// Order matters for the browser's start-up time: the caller check against
// the built-in IDs and the hello come before anything slow (the
// configuration file, PC/SC).
func Serve(o Options, stdin io.Reader, stdout, stderr io.Writer) int {
	if o.LoadConfig == nil {
		o.LoadConfig = func() (config.Config, error) { return config.Load(config.DefaultPaths()) }
	}
	n := &session{o: o, out: stdout, slots: make(chan struct{}, maxInFlight)}
	n.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var cfgErr error
	loaded := false
	if !builtinAllowed(o.Caller, o.Development, o.StoreExtensionIDs) {
		n.cfg, cfgErr = o.LoadConfig()
		loaded = true
		if !slices.Contains(n.cfg.AllowedExtensions, o.Caller.ID) {
			n.log.Error("caller not allowed", "browser", o.Caller.Browser, "extension", o.Caller.ID)
			n.write(protocol.ErrorReply(nil, protocol.Errorf(protocol.ErrCallerNotAllowed, "extension %q is not allowed", o.Caller.ID)))
			return 1
		}
	}
	build := protocol.BuildRelease
	if o.Development {
		build = protocol.BuildDevelopment
	}
	hello := protocol.HelloMessage(protocol.Hello{Version: o.Version, Protocol: protocol.Version, Build: build})
	if err := n.write(hello); err != nil {
		return 1
	}
	if !loaded {
		n.cfg, cfgErr = o.LoadConfig()
	}
	closeLog := n.setupLog(stderr)
	defer closeLog()
	if cfgErr != nil {
		n.log.Warn("configuration ignored in part", "err", cfgErr)
	}
	n.log.Info("started", "version", o.Version, "browser", o.Caller.Browser, "extension", o.Caller.ID, "pid", os.Getpid())
	n.agent = o.NewAgent(n.cfg, n.log)
	if o.ExchangeProgram != nil {
		n.exchange = &exchangeRelay{program: o.ExchangeProgram, log: n.log, emit: func(name string, data any) {
			if b, err := protocol.EventMessage(protocol.EventExchange, map[string]any{"name": name, "data": data}); err == nil {
				n.write(b)
			}
		}}
		defer n.exchange.Close()
	}

	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		n.watch(ctx)
	}()
	status := n.readLoop(ctx, stdin)
	if o.Plain {
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
func (n *session) setupLog(stderr io.Writer) (closeLog func()) {
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

// write sends one frame; frames from concurrent handlers never interleave.
func (n *session) write(body []byte) error {
	n.outMu.Lock()
	defer n.outMu.Unlock()
	if n.o.Plain {
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
func (n *session) readLoop(ctx context.Context, stdin io.Reader) int {
	read := func() ([]byte, error) { return protocol.ReadFrame(stdin) }
	if n.o.Plain {
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
func (n *session) handle(ctx context.Context, req *protocol.Request) {
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
	err = errcode.Map(err)
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
var originRequired = map[string]bool{protocol.CmdAuthenticate: true, protocol.CmdHiPKI: true}

// extensionOnly lists commands only the extension itself (no page origin)
// may call.
var extensionOnly = map[string]bool{protocol.CmdConfig: true, protocol.CmdExchange: true}

// dispatch decodes the arguments of req and runs its command.
func (n *session) dispatch(ctx context.Context, req *protocol.Request) (any, error) {
	if originRequired[req.Command] && req.Origin == "" {
		return nil, protocol.Errorf(protocol.ErrBadOrigin, "%s needs the page's origin", req.Command)
	}
	if extensionOnly[req.Command] && req.Origin != "" {
		return nil, protocol.Errorf(protocol.ErrUnknownCommand, "%s is not available to web pages", req.Command)
	}
	if strings.HasPrefix(req.Origin, "http:") && !n.loopbackPages() {
		return nil, &protocol.Error{Code: protocol.ErrBadOrigin, Details: map[string]any{"origin": req.Origin},
			Err: errors.New("http://localhost pages are served by development builds, or when the system configuration sets allowLoopbackOrigins")}
	}
	ag := n.agent
	switch req.Command {
	case protocol.CmdVersion:
		var a protocol.NoArgs
		return withArgs(req, &a, func() (any, error) { return n.version(), nil })
	case protocol.CmdReaders:
		var a protocol.NoArgs
		return withArgs(req, &a, func() (any, error) { return ag.Readers(ctx) })
	case protocol.CmdCheck:
		var a protocol.ReaderArgs
		return withArgs(req, &a, func() (any, error) { return ag.Check(ctx, a) })
	case protocol.CmdConfig:
		var a protocol.NoArgs
		return withArgs(req, &a, func() (any, error) { return ag.Config(), nil })
	case protocol.CmdCertificates:
		var a protocol.ReaderArgs
		return withArgs(req, &a, func() (any, error) { return ag.Certificates(ctx, a) })
	case protocol.CmdSign:
		var a protocol.SignArgs
		// A closure: withArgs sets the secrets after this defer, and
		// `defer a.PIN.Wipe()` would wipe the nil slice it saw here.
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return ag.Sign(ctx, req.Origin, &a) })
	case protocol.CmdAuthenticate:
		var a protocol.AuthenticateArgs
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return ag.Authenticate(ctx, req.Origin, &a) })
	case protocol.CmdDecrypt:
		var a protocol.DecryptArgs
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return ag.Decrypt(ctx, req.Origin, &a) })
	case protocol.CmdPINStatus:
		var a protocol.CardArgs
		return withArgs(req, &a, func() (any, error) { return ag.PINStatus(ctx, a) })
	case protocol.CmdChangePIN:
		var a protocol.ChangePINArgs
		defer func() { a.PIN.Wipe(); a.NewPIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return ag.ChangePIN(ctx, &a) })
	case protocol.CmdExchange:
		var a protocol.ExchangeArgs
		defer func() { a.PIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) {
			if n.exchange == nil {
				return nil, unavailable(errors.New("this host has no document exchange"))
			}
			return n.exchange.Do(ctx, &a)
		})
	case protocol.CmdHiPKI:
		var a protocol.HiPKIArgs
		return withArgs(req, &a, func() (any, error) { return n.hipki(req.Origin, a) })
	case protocol.CmdUnblockPIN:
		var a protocol.UnblockPINArgs
		defer func() { a.PUK.Wipe(); a.NewPIN.Wipe() }()
		return withArgs(req, &a, func() (any, error) { return ag.UnblockPIN(ctx, &a) })
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

// loopbackPages says whether http://localhost pages are served: in
// development builds, or where an administrator allowed them.
func (n *session) loopbackPages() bool { return n.o.Development || n.cfg.AllowLoopbackOrigins }

func (n *session) version() protocol.VersionResult {
	return protocol.VersionResult{Version: n.o.Version, Protocol: protocol.Version, OS: runtime.GOOS, Arch: runtime.GOARCH, Commands: protocol.Commands}
}

// watch pushes the agent's events until ctx ends. When the event source
// fails (the smart-card service is missing) it tries again every
// watchRetry.
func (n *session) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := n.agent.Watch(ctx, func(name string, data any) {
			b, err := protocol.EventMessage(name, data)
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
