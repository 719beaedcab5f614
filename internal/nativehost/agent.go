package nativehost

import (
	"context"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// Agent carries out the commands of docs/protocol.md. Arguments arrive
// decoded and checked; origin is the page's origin as the browser
// reported it ("" for the extension itself). Results are encoded as the
// reply's result; errors go through internal/errcode. PIN arguments are
// wiped by the session after the call: an Agent never keeps them.
type Agent interface {
	Readers(ctx context.Context) (any, error)
	Check(ctx context.Context, a protocol.ReaderArgs) (any, error)
	Certificates(ctx context.Context, a protocol.ReaderArgs) (any, error)
	Sign(ctx context.Context, origin string, a *protocol.SignArgs) (any, error)
	Authenticate(ctx context.Context, origin string, a *protocol.AuthenticateArgs) (any, error)
	Decrypt(ctx context.Context, origin string, a *protocol.DecryptArgs) (any, error)
	PINStatus(ctx context.Context, a protocol.CardArgs) (any, error)
	ChangePIN(ctx context.Context, a *protocol.ChangePINArgs) (any, error)
	UnblockPIN(ctx context.Context, a *protocol.UnblockPINArgs) (any, error)
	// Config is the result of config: the settings the extension acts on.
	Config() any
	// Watch sends reader and card events until ctx ends; an error means
	// the source failed and the session tries again later.
	Watch(ctx context.Context, emit func(event string, data any)) error
}
