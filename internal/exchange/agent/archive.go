package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// writeArchive writes an opened package's files into archive/DATE/FOLDER,
// FOLDER named after the sender and the package, every file durably (a
// temporary file, fsync, rename, then the folder synced): after a crash a
// file is either whole or absent, never cut. A file already there with the
// same content is left as it is (a package taken again after a crash).
// Names were checked when the package was opened (di.CheckFileName), and
// are checked again here, since this is where they become paths.
//
// With renameDI (eClient's 「不修改DI檔名」 turned off) the DI is written
// under the 發文字號 instead of the sender's file name, for a document
// management system that files by it; attachments keep their names, which
// the DI's entities refer to.
func writeArchive(archive string, now time.Time, o *parcel.Opened, renameDI bool) (string, error) {
	if archive == "" {
		return "", fmt.Errorf("exchange: no archive folder set up")
	}
	sub := filepath.Join(now.Format("2006-01-02"), packageFolder(o.Manifest.Sender, o.Manifest.ID))
	folder := filepath.Join(archive, sub)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", err
	}
	// The date and package folders are the archive's own: one that is a
	// link elsewhere (made by whoever else may write in the archive
	// folder) would have the documents written where it points.
	root, err := filepath.EvalSymlinks(archive)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(folder)
	if err != nil {
		return "", err
	}
	if real != filepath.Join(root, sub) {
		return "", fmt.Errorf("exchange: %s leads to %s, not a folder of the archive (a link?)", folder, real)
	}
	// A crash between writing a temporary file and renaming it leaves the
	// temporary file: the folder is this package's alone, so whatever
	// temporary file is in it is such a leftover.
	if stale, err := filepath.Glob(filepath.Join(folder, tempPrefix+"*")); err == nil {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	for _, f := range o.Files {
		if err := di.CheckFileName(f.Name); err != nil {
			return "", fmt.Errorf("exchange: %s", err.EN)
		}
		path := filepath.Join(folder, archivedName(o, f, renameDI))
		if b, err := os.ReadFile(path); err == nil && sha256.Sum256(b) == sha256.Sum256(f.Data) {
			continue
		}
		if err := writeDurably(path, f.Data); err != nil {
			return "", err
		}
		faultPoint("receive:archiving")
	}
	return folder, syncDir(folder)
}

// archivedName is the name f is written under.
func archivedName(o *parcel.Opened, f parcel.File, renameDI bool) string {
	if renameDI && f.Role == parcel.RoleDI {
		return diName(o, f.Name)
	}
	return f.Name
}

// diName is the DI's name by its 發文字號 (its digits and letters), else by
// the send id: e.g. 府教字第1150012345號 → 1150012345.di. The 發文字號 is the
// sender's to write: a name from it that cannot be written as it is (too
// long, a Windows device name) or that is another file's of the package
// (which would be written over it, or over which it would be) leaves the
// DI its own name.
func diName(o *parcel.Opened, own string) string {
	n := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, o.Manifest.Number)
	if n == "" {
		n = safeFolder(o.Manifest.ID)
	}
	name := n + ".di"
	if di.CheckFileName(name) != nil {
		return own
	}
	for _, f := range o.Files {
		if f.Role != parcel.RoleDI && strings.EqualFold(f.Name, name) {
			return own
		}
	}
	return name
}

// packageFolder is a package's folder, SENDER_ID. A send id of anything
// but lower-case letters, digits and '-' (the agent's own are UUIDs) is
// followed by a digest of it: safeFolder makes ':' and '_' alike, Windows
// and macOS upper and lower case, Windows a trailing dot and none, and two
// packages sharing a folder would have the second written over the first.
func packageFolder(sender, id string) string {
	name := safeFolder(sender + "_" + id)
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r == '-') {
			sum := sha256.Sum256([]byte(id))
			return name + "~" + hex.EncodeToString(sum[:16])
		}
	}
	return name
}

// safeFolder keeps letters, digits, '-', '_' and '.' of a folder name.
func safeFolder(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// tempPrefix names the temporary files of writeDurably.
const tempPrefix = ".receiving-"

func writeDurably(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), tempPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; left over only on failure
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	faultPoint("receive:temporary-file")
	return os.Rename(tmp.Name(), path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // not supported on every system (Windows); the renames are done
	return nil
}
