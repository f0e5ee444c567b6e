package tail

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// stateVersion is the version of the checkpoint file format.
const stateVersion = 1

// maxStateFile bounds the checkpoint file a Tailer reads (it holds one small
// entry per tailed file).
const maxStateFile = 64 << 20

// fileID identifies a file across renames: device and inode, and a hash of
// its first bytes so that a reused inode is told apart.
type fileID struct {
	Dev, Ino uint64
}

// entry is the checkpoint of one file.
type entry struct {
	Path        string `json:"path"` // where it was first tailed: its Source
	Dev         uint64 `json:"dev"`
	Ino         uint64 `json:"ino"`
	Fingerprint string `json:"fingerprint"` // hex SHA-256 of the first FPLen bytes
	FPLen       int    `json:"fp_len"`
	Offset      int64  `json:"offset"` // just past the last line appended
}

type stateDoc struct {
	Version int     `json:"version"`
	Files   []entry `json:"files"`
}

// parseState decodes a checkpoint file strictly: unknown fields, a wrong
// version, trailing data and impossible values are errors.
func parseState(b []byte) ([]entry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var doc stateDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding checkpoints: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding checkpoints: trailing data after the document")
	}
	if doc.Version != stateVersion {
		return nil, fmt.Errorf("decoding checkpoints: version %d, want %d", doc.Version, stateVersion)
	}
	seen := make(map[fileID]bool, len(doc.Files))
	for i, e := range doc.Files {
		switch {
		case e.Path == "":
			return nil, fmt.Errorf("decoding checkpoints: file %d: empty path", i)
		case e.Offset < 0:
			return nil, fmt.Errorf("decoding checkpoints: file %d (%s): negative offset %d", i, e.Path, e.Offset)
		case e.FPLen < 0 || e.FPLen > fingerprintSize:
			return nil, fmt.Errorf("decoding checkpoints: file %d (%s): fingerprint length %d outside 0..%d", i, e.Path, e.FPLen, fingerprintSize)
		}
		if fp, err := hex.DecodeString(e.Fingerprint); err != nil || len(fp) != 32 {
			return nil, fmt.Errorf("decoding checkpoints: file %d (%s): fingerprint is not a hex SHA-256", i, e.Path)
		}
		id := fileID{e.Dev, e.Ino}
		if seen[id] && id != (fileID{}) {
			return nil, fmt.Errorf("decoding checkpoints: file %d (%s): device %d inode %d listed twice", i, e.Path, e.Dev, e.Ino)
		}
		seen[id] = true
	}
	return doc.Files, nil
}

// readState reads the checkpoint file; a missing one is an empty state.
func readState(path string) ([]entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading tail state %s: %w", path, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limited{f, maxStateFile + 1}); err != nil {
		return nil, fmt.Errorf("reading tail state %s: %w", path, err)
	}
	if buf.Len() > maxStateFile {
		return nil, fmt.Errorf("reading tail state %s: larger than %d bytes", path, maxStateFile)
	}
	entries, err := parseState(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("reading tail state %s (corrupt; fix or remove it to start over): %w", path, err)
	}
	return entries, nil
}

type limited struct {
	f *os.File
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errEOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// writeState writes the checkpoints atomically: a temporary file in the same
// directory, fsync, rename over the old one, fsync of the directory.
func writeState(path string, entries []entry) error {
	b, err := json.MarshalIndent(stateDoc{Version: stateVersion, Files: entries}, "", " ")
	if err != nil {
		return fmt.Errorf("encoding tail state: %w", err)
	}
	if err := atomicfile.WriteBytes(path, 0o600, append(b, '\n')); err != nil {
		return fmt.Errorf("writing tail state: %w", err)
	}
	return nil
}
