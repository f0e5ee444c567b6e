// Package atomicfile replaces files whole: a reader sees the old file or the
// new one, never a part, and after a crash one of the two is on disk.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SyncEvery is how much Write lets it write before it syncs what was written.
//
// A file written whole and synced once at the end leaves all its pages dirty
// until then (the kernel's background writeback starts at a share of memory,
// hundreds of megabytes), and the final fsync hands the disk all of them at
// once: every other fsync on the disk (the write-ahead log's group commits,
// which hold back acknowledgements) waits behind it. Syncing as it goes keeps
// the disk's queue to this much; RocksDB's bytes_per_sync does the same for the
// same reason.
const SyncEvery = 4 << 20

// Write replaces path with what write writes: to a temporary file in the same
// directory (mode perm), synced every SyncEvery bytes and at the end, renamed
// over path, then the directory fsynced. On error path is unchanged and the
// temporary file gone.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("creating a temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", tmp.Name(), err)
	}
	bw := bufio.NewWriterSize(&syncingWriter{w: tmp, sync: tmp.Sync, every: SyncEvery}, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every platform syncs directories
		_ = d.Close()
	}
	return nil
}

// WriteBytes replaces path with data, as Write does.
func WriteBytes(path string, perm os.FileMode, data []byte) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// syncingWriter writes to w and calls sync after every `every` bytes.
type syncingWriter struct {
	w       io.Writer
	sync    func() error
	every   int
	pending int
}

func (w *syncingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, err
	}
	if w.pending += n; w.pending >= w.every {
		w.pending = 0
		if err := w.sync(); err != nil {
			return n, fmt.Errorf("syncing: %w", err)
		}
	}
	return n, nil
}
