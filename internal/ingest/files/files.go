// Package files is the batch file source: it expands paths into files (recursively,
// in a stable order) and opens each one as one or more decompressed streams,
// recognising gzip, bzip2 and zip from their magic bytes rather than their names.
package files

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// DefaultMaxDecompressed bounds what one compressed stream may expand to (64 GiB):
// a decompression bomb fails with a clear error instead of filling memory or disk.
const DefaultMaxDecompressed int64 = 64 << 30

// ErrTooLarge is wrapped by reads past the decompression limit.
var ErrTooLarge = errors.New("decompressed size exceeds the limit")

// Expand lists the regular files under paths: a file stands for itself, a directory
// for every regular file below it (hidden ones included; symlinks are not followed
// into directories). The result is sorted and free of duplicates. A path that cannot
// be read is reported through errs and the others are still listed.
func Expand(paths []string) (files []string, errs []error) {
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", root, err))
			continue
		}
		if !info.IsDir() {
			add(root)
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("walking %s: %w", p, err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				add(p)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("walking %s: %w", root, err))
		}
	}
	sort.Strings(files)
	return files, errs
}

// Compression names a container recognised by its magic bytes.
type Compression string

// Recognised containers.
const (
	None     Compression = ""
	Gzip     Compression = "gzip"
	Bzip2    Compression = "bzip2"
	Zip      Compression = "zip"
	Zstd     Compression = "zstd"
	XZ       Compression = "xz"
	SevenZip Compression = "7z"
)

// Sniff recognises a compressed container from the first bytes of a file.
func Sniff(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip
	case len(head) >= 10 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9' &&
		bytes.Equal(head[4:10], []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}):
		return Bzip2
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return XZ
	case bytes.HasPrefix(head, []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}):
		return SevenZip
	}
	return None
}

// Stream is one decompressed byte stream: a file, or one member of an archive.
type Stream struct {
	Name        string // the file path, or "archive.zip!member"
	Compression Compression
	R           io.Reader
	ModTime     time.Time // the file's or member's modification time
}

// ErrUnsupportedCompression reports a container Vigil recognises but does not read.
var ErrUnsupportedCompression = errors.New("unsupported compression")

// Open opens path and calls fn with each stream it holds: one for a plain or gzip/
// bzip2 file, one per file member of a zip archive (members are themselves
// decompressed when gzip/bzip2; nested archives are reported, not opened). maxSize
// bounds each stream's decompressed size (DefaultMaxDecompressed when <= 0). An
// error from fn stops the iteration and is returned.
func Open(path string, maxSize int64, fn func(Stream) error) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxDecompressed
	}
	f, err := os.Open(path) // #nosec G304 -- reading the files the user named is the point
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(16)
	switch c := Sniff(head); c {
	case Zip:
		return openZip(path, f, info.Size(), maxSize, fn)
	case Zstd, XZ, SevenZip:
		return fmt.Errorf("opening %s: %w: %s", path, ErrUnsupportedCompression, c)
	default:
		r, c, err := decompress(br, maxSize)
		if err != nil {
			return fmt.Errorf("opening %s: %w", path, err)
		}
		return fn(Stream{Name: path, Compression: c, R: r, ModTime: info.ModTime().UTC()})
	}
}

// decompress wraps r in the decompressor its magic bytes call for (or none).
func decompress(r *bufio.Reader, maxSize int64) (io.Reader, Compression, error) {
	head, _ := r.Peek(16)
	c := Sniff(head)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, c, fmt.Errorf("reading gzip header: %w", err)
		}
		return &limitReader{r: zr, left: maxSize, max: maxSize}, c, nil
	case Bzip2:
		return &limitReader{r: bzip2.NewReader(r), left: maxSize, max: maxSize}, c, nil
	case Zip, Zstd, XZ, SevenZip:
		return nil, c, fmt.Errorf("%w: %s nested in another container", ErrUnsupportedCompression, c)
	}
	return r, None, nil
}

func openZip(path string, f io.ReaderAt, size, maxSize int64, fn func(Stream) error) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("reading zip %s: %w", path, err)
	}
	members := make([]*zip.File, 0, len(zr.File))
	for _, m := range zr.File {
		if !m.FileInfo().IsDir() {
			members = append(members, m)
		}
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	for _, m := range members {
		name := path + "!" + m.Name
		err := func() error {
			rc, err := m.Open()
			if err != nil {
				return fn(Stream{Name: name, Compression: Zip, R: errReader{fmt.Errorf("opening zip member: %w", err)}})
			}
			defer rc.Close()
			br := bufio.NewReaderSize(&limitReader{r: rc, left: maxSize, max: maxSize}, 64<<10)
			r, c, err := decompress(br, maxSize)
			if err != nil {
				return fn(Stream{Name: name, Compression: Zip, R: errReader{err}})
			}
			if c == None {
				c = Zip
			}
			return fn(Stream{Name: name, Compression: c, R: r, ModTime: m.Modified.UTC()})
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// limitReader fails with ErrTooLarge once more than max bytes were read.
type limitReader struct {
	r         io.Reader
	left, max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One more byte would exceed the limit: probe so an exact-size stream still ends cleanly.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w (%d bytes)", ErrTooLarge, l.max)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// errReader is a stream that fails on first read, so an unreadable archive member is
// reported like any other stream error while its siblings are still read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
