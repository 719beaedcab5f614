//go:build !windows && !darwin

package register

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxProfilesIni caps how much of profiles.ini is read; a real one is a
// few hundred bytes per profile.
const maxProfilesIni = 1 << 20

// profile is one [ProfileN] section of a Firefox profiles.ini.
type profile struct {
	Name string
	Dir  string // absolute, cleaned
}

// firefoxProfiles returns the profiles listed in the profiles.ini at ini,
// with relative paths resolved against ini's folder. A missing file gives
// no profiles. A relative path that leaves that folder (".." or, through
// a symbolic link, an existing folder elsewhere) is refused with
// ErrProfilePath, and so is an absolute-marked path that is not absolute:
// Firefox itself would resolve it against whatever folder it started in.
func firefoxProfiles(ini string) ([]profile, error) {
	data, err := readLimited(ini, maxProfilesIni)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("Firefox profiles.ini %s: %w", ini, err)
	}
	base := filepath.Dir(ini)
	var out []profile
	for _, s := range parseIni(data) {
		if !strings.HasPrefix(s.name, "Profile") {
			continue // [General], [Install…] and [BackgroundTasksProfiles] name no new profiles
		}
		p := s.kv["Path"]
		if p == "" {
			continue
		}
		// Firefox writes IsRelative=1 or 0; without it, the path's own form
		// decides.
		rel := !filepath.IsAbs(p)
		switch s.kv["IsRelative"] {
		case "1":
			rel = true
		case "0":
			rel = false
		}
		var dir string
		if rel {
			local := filepath.FromSlash(p)
			if !filepath.IsLocal(local) {
				return nil, fmt.Errorf("%w: %s: [%s] Path=%q leaves %s", ErrProfilePath, ini, s.name, p, base)
			}
			dir = filepath.Join(base, local)
			if err := inside(base, dir); err != nil {
				return nil, fmt.Errorf("%w: %s: [%s] Path=%q: %v", ErrProfilePath, ini, s.name, p, err)
			}
		} else {
			if !filepath.IsAbs(p) {
				return nil, fmt.Errorf("%w: %s: [%s] Path=%q is marked absolute but is not", ErrProfilePath, ini, s.name, p)
			}
			dir = filepath.Clean(p)
		}
		out = append(out, profile{Name: s.kv["Name"], Dir: dir})
	}
	return out, nil
}

// inside refuses dir when, with symbolic links resolved, it is not in
// base. A dir that does not exist yet passes: nothing is written to a
// profile folder that is missing.
func inside(base, dir string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(realBase, realDir)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("it leads to %s, outside %s", realDir, realBase)
	}
	return nil
}

// iniSection is one [name] of an INI file with its key=value lines.
type iniSection struct {
	name string
	kv   map[string]string
}

// parseIni reads the INI dialect Firefox writes: [Section] lines,
// Key=Value lines, and ; or # comments. Keys before the first section
// are ignored.
func parseIni(data []byte) []iniSection {
	var out []iniSection
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxProfilesIni)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		switch {
		case line == "", line[0] == ';', line[0] == '#':
		case line[0] == '[' && line[len(line)-1] == ']':
			out = append(out, iniSection{name: line[1 : len(line)-1], kv: map[string]string{}})
		case len(out) > 0:
			if k, v, ok := strings.Cut(line, "="); ok {
				out[len(out)-1].kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// readLimited reads at most limit bytes of the regular file at p.
func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), err
}
