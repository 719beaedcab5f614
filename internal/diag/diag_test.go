package diag

import (
	"testing"
	"time"
)

// An item an earlier failure made impossible is reported as skipped with a
// pointer to that failure, and the overall result is the worst item.
func TestFinishFillsSkipsAndOverall(t *testing.T) {
	r := &run{rep: Report{PINTriesLeft: -1}, now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	r.checkClock()
	r.set(IDService, Fail, Text{"a", "b"}, Text{"c", "d"})
	rep := r.finish()
	if len(rep.Items) != len(titles) {
		t.Fatalf("len(Items) = %d, want %d", len(rep.Items), len(titles))
	}
	if rep.Overall != Fail {
		t.Errorf("Overall = %s, want fail", rep.Overall)
	}
	for i, it := range rep.Items {
		if it.ID != titles[i].id || it.Title.ZH == "" || it.Title.EN == "" {
			t.Errorf("item %d = %+v, want id %s with a title in both languages", i, it, titles[i].id)
		}
		if it.Result == Skip && (it.Fix.ZH == "" || it.Fix.EN == "") {
			t.Errorf("skipped item %s has no fix text", it.ID)
		}
	}
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		want Result
	}{
		{time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Pass},
		{time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC), Fail},
	} {
		r := &run{now: tc.now}
		r.checkClock()
		if got := r.res[IDClock]; got.Result != tc.want || got.Detail.ZH == "" || got.Detail.EN == "" {
			t.Errorf("checkClock(%v) = %+v, want %s", tc.now, got, tc.want)
		}
	}
}
