package service

import (
	"fmt"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/agent"
)

// DayRange is the 收發文狀態表's period: from 00:00 of from to 24:00 of to
// (YYYY-MM-DD, local time), today when both are empty, as eClient shows.
func DayRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	day := func(s string, def time.Time) (time.Time, error) {
		if s == "" {
			return time.Date(def.Year(), def.Month(), def.Day(), 0, 0, 0, 0, time.Local), nil
		}
		t, err := time.ParseInLocation("2006-01-02", s, time.Local)
		if err != nil {
			return t, fmt.Errorf("%w: 日期寫成 2026-12-06 / a date is written 2026-12-06: %q", ErrBadArgs, s)
		}
		return t, nil
	}
	start, err := day(from, now)
	if err != nil {
		return start, start, err
	}
	end, err := day(to, now)
	if err != nil {
		return start, end, err
	}
	if to == "" && from != "" {
		end = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local)
	}
	if end.Before(start) {
		return start, end, fmt.Errorf("%w: 結束日期早於開始日期 / the period ends before it starts", ErrBadArgs)
	}
	return start, end.AddDate(0, 0, 1), nil
}

// contains is 公文搜尋's text match: case-insensitive, in any of the fields.
func contains(text string, fields ...string) bool {
	text = strings.ToLower(strings.TrimSpace(text))
	if text == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

// FilterIn keeps the received documents whose sender, subject, number or
// id holds text.
func FilterIn(in []agent.Incoming, text string) []agent.Incoming {
	out := []agent.Incoming{}
	for _, i := range in {
		if contains(text, i.Sender, i.Subject, i.Number, i.PackageID) {
			out = append(out, i)
		}
	}
	return out
}

// FilterOut keeps the sent documents whose subject, 發文字號, id or a
// recipient holds text.
func FilterOut(in []agent.Outgoing, text string) []agent.Outgoing {
	out := []agent.Outgoing{}
	for _, o := range in {
		fields := []string{o.Subject, o.Number, o.SendID, o.PackageID}
		for _, r := range o.Recipients {
			fields = append(fields, r.Code)
		}
		if contains(text, fields...) {
			out = append(out, o)
		}
	}
	return out
}
