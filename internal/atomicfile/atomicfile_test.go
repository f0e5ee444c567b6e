package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteBytes(path, 0o600, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, 0o600, []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("read %q, %v; want two", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	// a failed write leaves the old file and no temporary file behind
	boom := errors.New("boom")
	err = Write(path, 0o600, func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "two" {
		t.Fatalf("after a failed write the file holds %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want 1 (no temporary file)", len(entries))
	}
}

func TestWriteMissingDir(t *testing.T) {
	if err := WriteBytes(filepath.Join(t.TempDir(), "no", "such"), 0o600, nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestSyncsAsItWrites(t *testing.T) {
	var buf bytes.Buffer
	syncs := 0
	sw := &syncingWriter{w: &buf, sync: func() error { syncs++; return nil }, every: 100}
	for i := range 25 { // 25 writes of 10 bytes: a sync at 100, 200
		if _, err := sw.Write(bytes.Repeat([]byte{byte(i)}, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if syncs != 2 || buf.Len() != 250 {
		t.Errorf("%d syncs, %d bytes; want 2, 250", syncs, buf.Len())
	}
	boom := errors.New("disk gone")
	sw = &syncingWriter{w: &buf, sync: func() error { return boom }, every: 10}
	if _, err := sw.Write(make([]byte, 10)); !errors.Is(err, boom) {
		t.Errorf("a failed sync: %v, want it reported", err)
	}
}
