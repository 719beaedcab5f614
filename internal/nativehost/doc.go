// Package nativehost is CardBridge's native-messaging session: the hello,
// the caller check, frames (or JSON lines for people), strict argument
// decoding, concurrent requests with a cap, reader and card events, the
// log, and the one error reply per failed request. It serves any Agent, as
// golang.org/x/crypto/ssh/agent's ServeAgent serves an agent.Agent: the
// card agent (NewCardAgent, over internal/cards) in the shipped host, a
// scripted agent in this package's tests, and the document exchange's
// commands next.
//
// It owns the session, not the cards: every card operation is the Agent's.
// Errors are mapped to protocol codes here, at the edge, through
// internal/errcode. The contract is docs/protocol.md.
package nativehost
