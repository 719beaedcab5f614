package portable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// ErrNoFont reports a computer without a Traditional Chinese TrueType font
// the portable document can embed.
var ErrNoFont = errors.New("找不到可嵌入的中文字型（Windows 的標楷體 kaiu.ttf；Linux 請安裝 fonts-cwtex-kai 或 fonts-arphic-ukai）/ no Traditional Chinese TrueType font to embed (Windows: 標楷體 kaiu.ttf; Linux: install fonts-cwtex-kai or fonts-arphic-ukai)")

// ErrFont reports a font file that cannot be embedded.
var ErrFont = errors.New("not a TrueType font that can be embedded")

// FontCandidates are the fonts tried, in order, on goos: kai (楷書) faces
// first, the style of printed 公文 (標楷體 on Windows), then ming and hei
// faces. Each is a TrueType font (glyph outlines, which the PDF embeds as
// a subset) or a collection of them; OpenType fonts with CFF outlines (Noto
// CJK) cannot be embedded this way and are not listed.
func FontCandidates(goos string, getenv func(string) string) []string {
	switch goos {
	case "windows":
		win := getenv("WINDIR")
		if win == "" {
			win = `C:\Windows`
		}
		return []string{win + `\Fonts\kaiu.ttf`, win + `\Fonts\mingliu.ttc`, win + `\Fonts\msjh.ttc`}
	case "darwin":
		return []string{"/Library/Fonts/Microsoft/DFKai-SB.ttf", "/System/Library/Fonts/Supplemental/Songti.ttc",
			"/System/Library/Fonts/STHeiti Medium.ttc", "/Library/Fonts/Arial Unicode.ttf"}
	}
	return []string{
		"/usr/share/fonts/truetype/cwtex/cwkai.ttf",      // fonts-cwtex-kai
		"/usr/share/fonts/truetype/arphic/ukai.ttc",      // fonts-arphic-ukai
		"/usr/share/fonts/truetype/arphic/uming.ttc",     // fonts-arphic-uming
		"/usr/share/fonts/truetype/cwtex/cwming.ttf",     // fonts-cwtex-ming
		"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",   // fonts-wqy-zenhei
		"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", // fonts-wqy-microhei
	}
}

// FindFont loads the first candidate (or the configured path, when given)
// that is an embeddable TrueType font.
func FindFont(configured string, candidates []string) (path string, ttf []byte, err error) {
	if configured != "" {
		candidates = []string{configured}
	}
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if ttf, err = TrueType(b); err == nil {
			return p, ttf, nil
		}
		if configured != "" {
			return "", nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
	}
	if configured != "" {
		return "", nil, fmt.Errorf("%s: %w", configured, ErrNoFont)
	}
	return "", nil, ErrNoFont
}

// maxFont bounds a font file (the largest CJK collections are about 40 MB).
const maxFont = 96 << 20

// TrueType returns data as a single TrueType font: data itself when it is
// one, else the first face of a TrueType collection (.ttc) that has glyph
// outlines, written out as a font of its own (its tables copied, the
// directory rebuilt), since the PDF library embeds single fonts only.
func TrueType(data []byte) ([]byte, error) {
	if len(data) < 12 || len(data) > maxFont {
		return nil, fmt.Errorf("%d bytes: %w", len(data), ErrFont)
	}
	switch string(data[:4]) {
	case "\x00\x01\x00\x00", "true":
		if _, err := tables(data, 0); err != nil {
			return nil, err
		}
		if !hasGlyf(data, 0) {
			return nil, fmt.Errorf("no glyf table: %w", ErrFont)
		}
		return data, nil
	case "ttcf":
		n := binary.BigEndian.Uint32(data[8:12])
		if n == 0 || n > 64 || len(data) < 12+4*int(n) {
			return nil, fmt.Errorf("collection of %d fonts: %w", n, ErrFont)
		}
		for i := range int(n) {
			off := int(binary.BigEndian.Uint32(data[12+4*i:]))
			if hasGlyf(data, off) {
				return extract(data, off)
			}
		}
		return nil, fmt.Errorf("no face with glyf outlines: %w", ErrFont)
	}
	return nil, fmt.Errorf("signature %q: %w", data[:4], ErrFont)
}

// table is a table directory entry.
type table struct {
	tag              string
	sum, off, length uint32
}

// tables reads the table directory at off, checking every table lies
// inside data.
func tables(data []byte, off int) ([]table, error) {
	if off < 0 || off+12 > len(data) {
		return nil, fmt.Errorf("directory at %d: %w", off, ErrFont)
	}
	n := int(binary.BigEndian.Uint16(data[off+4:]))
	if n == 0 || n > 256 || off+12+16*n > len(data) {
		return nil, fmt.Errorf("%d tables: %w", n, ErrFont)
	}
	out := make([]table, n)
	for i := range out {
		e := data[off+12+16*i:]
		t := table{tag: string(e[:4]), sum: binary.BigEndian.Uint32(e[4:]), off: binary.BigEndian.Uint32(e[8:]), length: binary.BigEndian.Uint32(e[12:])}
		if uint64(t.off)+uint64(t.length) > uint64(len(data)) {
			return nil, fmt.Errorf("table %q beyond the file: %w", t.tag, ErrFont)
		}
		out[i] = t
	}
	return out, nil
}

func hasGlyf(data []byte, off int) bool {
	ts, err := tables(data, off)
	if err != nil {
		return false
	}
	for _, t := range ts {
		if t.tag == "glyf" {
			return true
		}
	}
	return false
}

// extract writes the face whose directory is at off as a font of its own.
func extract(data []byte, off int) ([]byte, error) {
	ts, err := tables(data, off)
	if err != nil {
		return nil, err
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].tag < ts[j].tag })
	head := 12 + 16*len(ts)
	size := head
	for _, t := range ts {
		size += int(t.length+3) &^ 3
	}
	if size > maxFont {
		return nil, fmt.Errorf("face of %d bytes: %w", size, ErrFont)
	}
	out := make([]byte, head, size)
	copy(out[:12], data[off:off+12])
	at := uint32(head)
	for i, t := range ts {
		e := out[12+16*i:]
		copy(e[:4], t.tag)
		binary.BigEndian.PutUint32(e[4:], t.sum)
		binary.BigEndian.PutUint32(e[8:], at)
		binary.BigEndian.PutUint32(e[12:], t.length)
		out = append(out, data[t.off:t.off+t.length]...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		at = uint32(len(out))
	}
	return out, nil
}
