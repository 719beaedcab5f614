package nativehost

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// FuzzExchangeLine: whatever the extension sends that DecodeArgs accepts,
// the line the host writes for the program is one JSON object on one line,
// with the op and args as sent and the typed PIN the only pin in args.
func FuzzExchangeLine(f *testing.F) {
	f.Add("login", `{}`, "123456")
	f.Add("send", `{"to":["XC10458570"],"subject":"主旨"}`, "123456")
	f.Add("list", `{"box":"in",
"text":"x"}`, "")
	f.Add("send", `{ }`, "1")
	f.Add("login", `{"PIN":"1","p\u0069n":"2"}`, "123456")
	f.Fuzz(func(t *testing.T, op, args, pin string) {
		req := map[string]any{"op": op, "args": json.RawMessage(args)}
		if pin != "" {
			req["pin"] = pin
		}
		raw, err := json.Marshal(req)
		if err != nil {
			return
		}
		var a protocol.ExchangeArgs
		if protocol.DecodeArgs(raw, &a) != nil {
			return
		}
		line := exchangeLine(7, &a)
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		var got struct {
			ID   int64                      `json:"id"`
			Op   string                     `json:"op"`
			Args map[string]json.RawMessage `json:"args"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if got.ID != 7 || got.Op != op {
			t.Fatalf("line %q: id %d op %q", line, got.ID, got.Op)
		}
		pins := 0
		for k := range got.Args {
			if strings.EqualFold(k, "pin") {
				pins++
			}
		}
		want := 0
		if len(a.PIN) > 0 {
			want = 1
			if string(got.Args["pin"]) != `"`+string(a.PIN)+`"` {
				t.Fatalf("line %q: pin %s, typed %q", line, got.Args["pin"], a.PIN)
			}
		}
		if pins != want {
			t.Fatalf("line %q: %d pins, want %d", line, pins, want)
		}
	})
}

// FuzzExchangeAnswer: any line the program writes is delivered to at most
// its one request, or passed on as an event, or dropped; never a panic,
// never a block, never bytes that are not UTF-8 to the browser.
func FuzzExchangeAnswer(f *testing.F) {
	f.Add([]byte(`{"id":1,"result":{"ok":true}}`))
	f.Add([]byte(`{"id":1,"error":{"code":"ERR_PIN_INCORRECT","message":"x","details":{"triesLeft":2}}}`))
	f.Add([]byte(`{"id":1,"error":{"code":"ERR_X","details":"not an object"}}`))
	f.Add([]byte(`{"event":"synced","data":{"report":{}}}`))
	f.Add([]byte("{\"event\":\"x\xff\",\"data\":\"\xfe\"}"))
	f.Add([]byte(`{"id":99,"result":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var events []any
		r := &exchangeRelay{log: slog.New(slog.DiscardHandler), emit: func(name string, data any) {
			events = append(events, name, data)
		}}
		ch := make(chan exchangeAnswer, 1)
		p := &exchangeProc{pending: map[int64]chan exchangeAnswer{1: ch}}
		r.deliver(p, line)
		r.deliver(p, line) // a second time: nothing left to deliver to
		for i := 0; i < len(events); i += 2 {
			b, err := json.Marshal(events[i+1])
			if err != nil {
				continue
			}
			if !utf8.Valid(b) || !utf8.ValidString(events[i].(string)) {
				t.Fatalf("event %q with data %q is not UTF-8", events[i], b)
			}
		}
		select {
		case ans := <-ch:
			if ans.ID == nil || *ans.ID != 1 {
				t.Fatalf("request 1 got %+v", ans)
			}
			if ans.Error != nil {
				_ = answerError(ans)
			}
		default:
		}
	})
}
