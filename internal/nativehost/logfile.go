package nativehost

import (
	"os"
	"path/filepath"
	"sync"
)

// maxLogFile is the size at which the log file is moved to .1 and started
// anew, so the log takes at most about twice this on disk however long
// hosts run.
const maxLogFile = 4 << 20

// logFile appends to a file and rotates it when it passes maxLogFile.
// Several hosts (one per browser port) may append to the same file; one
// that rotates leaves the others writing to .1 until their next rotation
// or restart, which loses nothing.
type logFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

func openLogFile(path string) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := checkLogDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	l := &logFile{path: path}
	return l, l.open()
}

func (l *logFile) open() error {
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size+int64(len(p)) > maxLogFile {
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
