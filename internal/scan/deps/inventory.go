package deps

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gomod"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/gradlelockfile"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/pomxml"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagelockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/pnpmlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/yarnlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/php/composerlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/pipfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/poetrylock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/requirements"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/uvlock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemfilelock"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargolock"
	"github.com/google/osv-scalibr/extractor/filesystem/sbom/cdx"
	"github.com/google/osv-scalibr/extractor/filesystem/sbom/spdx"
	scalibrfs "github.com/google/osv-scalibr/fs"
	"github.com/google/osv-scalibr/purl"

	"github.com/vigilsec/vigil/internal/scan"
)

type extractorCtor func(*cpb.PluginConfig) (filesystem.Extractor, error)

// extractorList is the one list of osv-scalibr filesystem extractors the
// inventory runs, in this order.
var extractorList = []extractorCtor{
	gomod.New,           // go/gomod: go.mod (and go.sum below go 1.17)
	packagelockjson.New, // javascript/packagelockjson: package-lock.json, npm-shrinkwrap.json
	yarnlock.New,        // javascript/yarnlock
	pnpmlock.New,        // javascript/pnpmlock
	requirements.New,    // python/requirements: *requirements*.txt
	poetrylock.New,      // python/poetrylock
	pipfilelock.New,     // python/pipfilelock
	uvlock.New,          // python/uvlock
	cargolock.New,       // rust/cargolock
	pomxml.New,          // java/pomxml: offline, local parents only
	gradlelockfile.New,  // java/gradlelockfile
	gemfilelock.New,     // ruby/gemfilelock: Gemfile.lock, gems.locked
	composerlock.New,    // php/composerlock
	cdx.New,             // sbom/cdx: *.cdx.json, *.cdx.xml, bom.json, bom.xml
	spdx.New,            // sbom/spdx: *.spdx, *.spdx.json, ...
}

// inventory runs osv-scalibr's extractors over a target's files.
type inventory struct {
	extractors []filesystem.Extractor
	goDirect   filesystem.Extractor // go/gomod without indirect requirements
	maxBytes   int64
}

func newInventory(maxBytes int64) (lister, error) {
	inv := &inventory{maxBytes: cmp.Or(maxBytes, DefaultMaxFileBytes)}
	for _, ctor := range extractorList {
		e, err := ctor(&cpb.PluginConfig{})
		if err != nil {
			return nil, fmt.Errorf("creating an osv-scalibr extractor: %w", err)
		}
		inv.extractors = append(inv.extractors, e)
	}
	direct, err := gomod.New(&cpb.PluginConfig{PluginSpecific: []*cpb.PluginSpecificConfig{
		{Config: &cpb.PluginSpecificConfig_GoMod{GoMod: &cpb.GoModConfig{ExcludeIndirect: true}}},
	}})
	if err != nil {
		return nil, fmt.Errorf("creating the go.mod extractor: %w", err)
	}
	inv.goDirect = direct
	return inv, nil
}

// fileAPI is what FileRequired sees of a target file: its path and, if
// asked, its Lstat.
type fileAPI struct {
	path string
	abs  string
	info fs.FileInfo
	err  error
	done bool
}

func (f *fileAPI) Path() string { return f.path }

func (f *fileAPI) Stat() (fs.FileInfo, error) {
	if !f.done {
		f.info, f.err = os.Lstat(f.abs)
		f.done = true
	}
	return f.info, f.err
}

func (inv *inventory) run(ctx context.Context, t *scan.Target, problem func(scan.Problem)) []Dep {
	// Extractors open other files through fsys (a pom.xml's local parent, a
	// requirements file's -r includes, npm-shrinkwrap.json): an os.Root
	// keeps them inside the target, symbolic links included.
	root, err := os.OpenRoot(t.Root)
	if err != nil {
		report(problem, "", fmt.Errorf("opening the target: %w", err))
		return nil
	}
	defer func() { _ = root.Close() }()
	fsys, ok := root.FS().(scalibrfs.FS)
	if !ok {
		report(problem, "", errors.New("opening the target: os.Root's file system lacks ReadDir or Stat"))
		return nil
	}
	var out []Dep
	for _, file := range t.Files {
		if ctx.Err() != nil {
			break
		}
		api := &fileAPI{path: file.Path, abs: t.Abs(file)}
		var wanted []filesystem.Extractor
		for _, e := range inv.extractors {
			if e.FileRequired(api) {
				wanted = append(wanted, e)
			}
		}
		if len(wanted) == 0 {
			continue
		}
		if file.Size > inv.maxBytes {
			report(problem, file.Path, fmt.Errorf("%d bytes, larger than the %d-byte limit for manifests", file.Size, inv.maxBytes))
			continue
		}
		data, info, err := readFile(api.abs, inv.maxBytes)
		if err != nil {
			report(problem, file.Path, err)
			continue
		}
		for _, e := range wanted {
			pkgs, err := extract(ctx, e, fsys, t.Root, file.Path, info, data)
			if err != nil {
				report(problem, file.Path, fmt.Errorf("%s: %w", e.Name(), err))
				continue
			}
			var direct map[string]bool
			if e.Name() == gomod.Name {
				direct = map[string]bool{}
				if dpkgs, err := extract(ctx, inv.goDirect, fsys, t.Root, file.Path, info, data); err == nil {
					for _, p := range dpkgs {
						direct[p.Name+"@"+p.Version] = true
					}
				}
			}
			for _, p := range pkgs {
				out = append(out, toDep(p, e.Name(), file.Path, direct))
			}
		}
	}
	return dedupSort(out)
}

func readFile(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("larger than the %d-byte limit for manifests", limit)
	}
	return data, info, nil
}

// extract runs one extractor on one file; a panic in it is the file's error.
func extract(ctx context.Context, e filesystem.Extractor, fsys scalibrfs.FS, root, path string, info fs.FileInfo, data []byte) (pkgs []*extractor.Package, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkgs, err = nil, fmt.Errorf("extractor panicked: %v", r)
		}
	}()
	inv, err := e.Extract(ctx, &filesystem.ScanInput{FS: fsys, Path: path, Root: root, Info: info, Reader: bytes.NewReader(data)})
	if err != nil {
		return nil, err
	}
	return inv.Packages, nil
}

// toDep turns an extracted package into a Dep.
func toDep(p *extractor.Package, extractorName, file string, goDirect map[string]bool) Dep {
	d := Dep{Name: p.Name, Version: p.Version, Path: file, Extractor: extractorName}
	pu := p.PURL()
	if pu != nil {
		d.PURL = pu.String()
	}
	d.Ecosystem = p.Ecosystem().String()
	if pu != nil && (extractorName == cdx.Name || extractorName == spdx.Name) {
		d.Name = sbomName(p.Name, pu, d.Ecosystem)
	}
	if d.Ecosystem == "Go" && d.Name == "go" {
		d.Name = "stdlib" // SBOMs name the Go standard library "go"
	}
	if loc := p.Location.Descriptor; loc != nil && loc.File != nil {
		if loc.File.Path != "" {
			d.Path = strings.TrimPrefix(loc.File.Path, "./")
		}
		d.Line = loc.File.LineNumber
	}
	if g, ok := p.Metadata.(interface{ DepGroups() []string }); ok {
		d.Groups = slices.Clone(g.DepGroups())
		if len(d.Groups) == 0 {
			d.Groups = nil
		}
	}
	if m, ok := p.Metadata.(*requirements.Metadata); ok {
		switch m.VersionComparator {
		case "", "==", "===":
		default:
			d.Constraint = m.VersionComparator
		}
	}
	switch {
	case goDirect != nil && d.Name != "stdlib":
		d.Relation = RelationIndirect
		if goDirect[p.Name+"@"+p.Version] {
			d.Relation = RelationDirect
		}
	case extractorName == pomxml.Name:
		d.Relation = RelationDirect // the pom's own dependencies (and its local parents')
	}
	return d
}

// sbomName is the name advisories use for an SBOM package: the PURL's
// namespace joined to its name as the ecosystem writes it ("group:artifact"
// for Maven, "@scope/name" for npm, "golang.org/x/net" for Go).
func sbomName(name string, pu *purl.PackageURL, eco string) string {
	if pu.Namespace == "" {
		return cmp.Or(name, pu.Name)
	}
	base := pu.Name
	switch pu.Type {
	case purl.TypeDebian, purl.TypeApk, purl.TypeRPM, purl.TypeAlpm, purl.TypeOpkg, purl.TypeFlatpak,
		purl.TypeCOS, purl.TypeSnap, purl.TypePacman, purl.TypePortage, purl.TypeNix:
		return cmp.Or(name, base) // the namespace is the distribution
	}
	if eco == "Maven" {
		return pu.Namespace + ":" + base
	}
	return pu.Namespace + "/" + base
}

// dedupSort sorts dependencies and drops repeats of one (file, ecosystem,
// name, version), keeping the first line.
func dedupSort(deps []Dep) []Dep {
	slices.SortFunc(deps, func(a, b Dep) int {
		return cmp.Or(
			strings.Compare(a.Path, b.Path),
			cmp.Compare(a.Line, b.Line),
			strings.Compare(a.Ecosystem, b.Ecosystem),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Version, b.Version),
			strings.Compare(a.Extractor, b.Extractor),
		)
	})
	type key struct{ path, eco, name, version string }
	seen := map[key]bool{}
	out := deps[:0]
	for _, d := range deps {
		k := key{d.Path, d.Ecosystem, d.Name, d.Version}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}
