package reload

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"time"
)

// minRacyWindow is the coarsest modification-time granularity the watcher allows
// for (FAT keeps 2 s; ext3 and HFS+ 1 s): a file whose mtime is this close to the
// moment it was observed may be written again without its mtime (or size) moving.
const minRacyWindow = 2 * time.Second

// fileState is what one poll saw of one path. Contents are hashed only while the
// file is "racy" (modified within the racy window of the observation) and on the
// first poll after that window, when size and mtime alone cannot prove that the
// file is unchanged; the digest is compared, never logged or kept beyond the
// last two observations.
type fileState struct {
	err    string      // stat or read error ("" when the file was readable)
	info   os.FileInfo // nil when err != ""; os.SameFile tells a rename-replace apart
	size   int64
	mtime  time.Time
	racy   bool
	hashed bool
	sum    [sha256.Size]byte
}

func (f *fileState) present() bool { return f.err == "" }

// sameStat reports whether a and b have the same size, mtime and file identity
// (device and inode on Unix), or are both unreadable for the same reason.
func sameStat(a, b *fileState) bool {
	if !a.present() || !b.present() {
		return a.err == b.err
	}
	return a.size == b.size && a.mtime.Equal(b.mtime) && os.SameFile(a.info, b.info)
}

// sameFile reports whether a and b describe the same contents as far as the
// watcher can tell: same stat, and the same digest when both were hashed.
func sameFile(a, b *fileState) bool {
	if !sameStat(a, b) {
		return false
	}
	if a.present() && a.hashed && b.hashed {
		return a.sum == b.sum
	}
	return true
}

// sameSet is sameFile over a source's paths; a nil set (never observed) matches nothing.
func sameSet(a, b []fileState) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFile(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

// observeSet stats every path at now. A file's contents are hashed when it is
// racy, or when an earlier observation in refs had the same stat while racy (the
// first poll after the change window), so that a rewrite within one mtime tick
// is seen.
func observeSet(paths []string, now time.Time, racyWindow time.Duration, refs ...[]fileState) []fileState {
	out := make([]fileState, len(paths))
	for i, path := range paths {
		out[i] = observe(path, i, now, racyWindow, refs)
	}
	return out
}

func observe(path string, i int, now time.Time, racyWindow time.Duration, refs [][]fileState) fileState {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{err: err.Error()}
	}
	if !fi.Mode().IsRegular() {
		return fileState{err: fmt.Sprintf("stat %s: not a regular file (%s)", path, fi.Mode().Type())}
	}
	st := fileState{info: fi, size: fi.Size(), mtime: fi.ModTime()}
	st.racy = now.Sub(st.mtime) < racyWindow // also true for an mtime in the future
	need := st.racy
	for _, ref := range refs {
		if i < len(ref) && ref[i].racy && sameStat(&ref[i], &st) {
			need = true
		}
	}
	if need {
		sum, err := hashFile(path)
		if err != nil {
			return fileState{err: err.Error()}
		}
		st.hashed, st.sum = true, sum
	}
	return st
}

func hashFile(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("hashing %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
