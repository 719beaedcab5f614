package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// Push channel timing: a ping every pingEvery keeps NAT and proxies from
// dropping an idle agent; one that does not answer within pongWait is
// gone.
const (
	pingEvery = 30 * time.Second
	pongWait  = 75 * time.Second
	writeWait = 10 * time.Second
)

var upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, CheckOrigin: checkOrigin}

// push upgrades to a WebSocket and sends the agency's events as JSON
// messages {"events": [...]}: first those after the ?after= cursor, then
// each change as it happens. An agent that loses the connection polls
// GET /v1/events from its last cursor and connects again: nothing is lost.
//
// An agency holds at most MaxPush connections. A connection lasts as long
// as its session: after a logout, the session's end or the agency's
// suspension it is closed (at the next wake-up or ping).
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	agency, session := agencyOf(r), sessionOf(r)
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	wake, unsubscribe, ok := s.hub.subscribe(agency)
	if !ok {
		fail(w, errBusy)
		return
	}
	defer unsubscribe()
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer conn.Close()
	// alive: the session is still live, and with deep (at each ping), the
	// agency still registered and not suspended; a connection that
	// answers pings counts as the session's activity, up to SessionMax.
	alive := func(deep bool) bool {
		if _, ok := s.live(session, deep); !ok {
			return false
		}
		if deep {
			if e, stop := s.suspended(r.Context(), agency); stop && e.Code != errInternal.Code {
				s.endSessions(agency)
				return false
			}
		}
		return true
	}

	// The reader: pongs, and the close from the agent.
	gone := make(chan struct{})
	conn.SetReadLimit(1024)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	// send sends every event after the cursor, a page at a time.
	send := func() bool {
		for {
			evs, err := s.eventsAfter(r.Context(), agency, after)
			if err != nil {
				return false
			}
			if len(evs) == 0 {
				return true
			}
			// The session may have ended while the events were read (a
			// logout during the first read on a slow database sent them
			// after it: found running this suite on PostgreSQL).
			if !alive(false) {
				return false
			}
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteJSON(map[string]any{"events": evs}); err != nil {
				return false
			}
			after = evs[len(evs)-1].Seq
			if len(evs) < eventPage {
				return true
			}
		}
	}
	if !send() {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-wake:
			if !alive(false) || !send() {
				return
			}
		case <-ping.C:
			if !alive(true) {
				return
			}
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}
