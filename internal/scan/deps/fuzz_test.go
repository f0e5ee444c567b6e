package deps

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

// fuzzNames are the manifest names the fuzzer's bytes are written under,
// one per extractor.
var fuzzNames = []string{
	"go.mod", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "requirements.txt", "poetry.lock",
	"Pipfile.lock", "uv.lock", "Cargo.lock", "pom.xml", "gradle.lockfile", "Gemfile.lock",
	"composer.lock", "bom.cdx.json", "bom.spdx.json",
}

// FuzzInventory: hostile manifest bytes, under any manifest name, give
// dependencies or a problem naming the file; an extractor's panic is caught
// and reported, never crashes the scan.
func FuzzInventory(f *testing.F) {
	for i, name := range fuzzNames {
		_ = filepath.WalkDir(filepath.Join("testdata", "repo"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == name {
				if data, err := os.ReadFile(p); err == nil {
					f.Add(uint8(i), data)
				}
			}
			return nil
		})
	}
	f.Add(uint8(1), []byte(`{"packages":{"node_modules/a":{"version":"1"}},"dependencies":{"b":{"version":{}}}}`))
	inv, err := newInventory(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		dir := t.TempDir()
		name := fuzzNames[int(which)%len(fuzzNames)]
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		tg := &scan.Target{Root: dir, Files: []scan.File{{Path: name, Size: int64(len(data))}}}
		var problems []scan.Problem
		deps := inv.run(context.Background(), tg, func(p scan.Problem) { problems = append(problems, p) })
		for _, p := range problems {
			if p.Path != name || p.Scanner != ID || p.Err == "" {
				t.Fatalf("problem %+v", p)
			}
		}
		for _, d := range deps {
			if d.Path == "" || d.Extractor == "" {
				t.Fatalf("dependency without a source: %+v", d)
			}
		}
	})
}
