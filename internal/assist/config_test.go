package assist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultConfigValidAndOff(t *testing.T) {
	c := DefaultConfig()
	if c.Enabled {
		t.Error("enabled by default")
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := New(c, Options{}); err == nil {
		t.Error("New accepted the disabled default")
	}
}

// testdata/config/*.good.yaml must parse; each *.bad.yaml must fail with the
// error text in its first line, written "# error: <text>".
func TestConfigCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.yaml")
	if len(files) < 4 {
		t.Fatalf("only %d config files", len(files))
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseConfig(data)
		switch {
		case strings.HasSuffix(file, ".good.yaml"):
			if err != nil {
				t.Errorf("%s: %v", file, err)
			}
		case strings.HasSuffix(file, ".bad.yaml"):
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("%s: first line is not '# error: ...'", file)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want %q", file, err, want)
			}
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/config/*.yaml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("parsed config fails Validate: %v", err)
			}
		}
	})
}
