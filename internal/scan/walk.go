package scan

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WalkOptions tunes Walk.
type WalkOptions struct {
	// Skip are directory names not entered anywhere in the tree (".git" is
	// always skipped: git history is read through git).
	Skip []string
}

// Walk lists the regular files under root (symbolic links are not followed),
// sorted by path, into a Target. A directory it cannot read is reported
// through problem and skipped.
func Walk(root string, opts WalkOptions, problem func(Problem)) (*Target, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	t := &Target{Root: abs, Repository: filepath.Base(abs)}
	if !fi.IsDir() {
		// one file: its directory is the root
		t.Root = filepath.Dir(abs)
		t.Repository = filepath.Base(t.Root)
		t.Files = []File{{Path: filepath.Base(abs), Size: fi.Size()}}
		return t, nil
	}
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if problem != nil {
				rel, _ := filepath.Rel(abs, path)
				problem(Problem{Scanner: "walk", Path: filepath.ToSlash(rel), Err: err.Error()})
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != abs && (d.Name() == ".git" || slices.Contains(opts.Skip, d.Name())) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil //nolint:nilerr // the file went away while walking: not a finding
		}
		rel, err := filepath.Rel(abs, path)
		if err != nil {
			return err
		}
		t.Files = append(t.Files, File{Path: filepath.ToSlash(rel), Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	slices.SortFunc(t.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return t, nil
}

// Abs returns the absolute path of a target file.
func (t *Target) Abs(f File) string { return filepath.Join(t.Root, filepath.FromSlash(f.Path)) }
