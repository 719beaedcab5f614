//go:build !windows

package printer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// jobID is lp's answer: "request id is PDF-3 (1 file(s))".
var jobID = regexp.MustCompile(`request id is (\S+)`)

// Print sends data to CUPS with lp, from standard input (no temporary
// file), titled for the queue. CUPS_SERVER in the environment picks the
// server, as for every CUPS client.
func (s System) Print(ctx context.Context, title, name string, data []byte) (string, error) {
	lp, err := exec.LookPath("lp")
	if err != nil {
		return "", ErrNoSpooler
	}
	args := []string{"-t", cleanTitle(title)}
	if s.Printer != "" {
		if strings.HasPrefix(s.Printer, "-") {
			return "", fmt.Errorf("printer %q: %w", s.Printer, ErrPrint)
		}
		args = append(args, "-d", s.Printer)
	}
	cmd := exec.CommandContext(ctx, lp, args...)
	cmd.Stdin = bytes.NewReader(data)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		var ee *exec.ExitError
		if !errors.As(err, &ee) || msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s: %w: %s", name, ErrPrint, msg)
	}
	if m := jobID.FindStringSubmatch(out.String()); m != nil {
		return m[1], nil
	}
	return strings.TrimSpace(out.String()), nil
}
