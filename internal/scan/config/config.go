// Package config is Vigil's configuration scanner (`vigil scan`, scanner id
// "config"): misconfigurations in Kubernetes manifests (k8s), Dockerfiles
// (docker) and Terraform (terraform), and the users' own Rego policies over
// the same documents (rego).
//
// Which files it reads:
//   - Kubernetes: *.yaml, *.yml, *.json and files without an extension,
//     recognised by content (a document with apiVersion and kind); other
//     YAML and JSON is ignored quietly. The templates of Helm charts (the
//     templates/ folder beside a Chart.yaml) are not manifests until
//     rendered and are skipped, as are the files a kustomization.yaml names
//     as patches; scan `helm template` or `kustomize build` output instead.
//   - Dockerfiles: Dockerfile, Containerfile, *.Dockerfile, Dockerfile.* and
//     Containerfile.* (not *.dockerignore).
//   - Terraform: *.tf, each directory a module (see package terraform for
//     what is evaluated and what stays unknown).
//
// A file that cannot be read or parsed is a Problem (path and reason) and
// the scan goes on. Findings are emitted file by file in the target's path
// order, each file's sorted by line, rule and key.
//
// Rego policies follow the convention documented in package rego: deny and
// warn rules in any package, input one document with input.input_kind
// "kubernetes", "dockerfile" or "terraform".
package config

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/docker"
	"github.com/vigilsec/vigil/internal/scan/config/k8s"
	"github.com/vigilsec/vigil/internal/scan/config/rego"
	"github.com/vigilsec/vigil/internal/scan/config/rule"
	"github.com/vigilsec/vigil/internal/scan/config/terraform"
)

// ID is the scanner's id.
const ID = "config"

// DefaultMaxFileSize is the largest file read (manifests and modules
// larger than this are generated data, not configuration).
const DefaultMaxFileSize = 8 << 20

// Options configure the scanner.
type Options struct {
	Logger *slog.Logger
	// PolicyDirs are directories of Rego policies (every .rego file under
	// them), loaded once by New.
	PolicyDirs []string
	// MaxFileSize bounds the files read; 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// Workers is the number of files scanned at once; 0 means GOMAXPROCS.
	Workers int
}

// Scanner finds misconfigurations; it is safe for concurrent use.
type Scanner struct {
	log      *slog.Logger
	policies *rego.Engine
	maxSize  int64
	workers  int
}

// New returns a scanner, compiling the Rego policies of opts.PolicyDirs (an
// error names the policy file and line that does not compile).
func New(ctx context.Context, opts Options) (*Scanner, error) {
	s := &Scanner{log: opts.Logger, maxSize: opts.MaxFileSize}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxFileSize
	}
	if s.workers = opts.Workers; s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	if len(opts.PolicyDirs) > 0 {
		e, err := rego.Load(ctx, opts.PolicyDirs)
		if err != nil {
			return nil, err
		}
		s.policies = e
		s.log.DebugContext(ctx, "policies loaded", "files", e.Files(), "rules", len(e.Rules()))
	}
	return s, nil
}

// ID returns "config".
func (s *Scanner) ID() string { return ID }

// Rules returns the built-in checks (Kubernetes, Dockerfile, Terraform), in
// id order, for reports that describe rules (SARIF).
func Rules() []rule.Rule {
	var out []rule.Rule
	out = append(out, k8s.Rules()...)
	out = append(out, docker.Rules()...)
	out = append(out, terraform.Rules()...)
	return out
}

// fileKind is what a file is to the scanner.
type fileKind int

const (
	kindNone fileKind = iota
	kindManifest
	kindDockerfile
	kindTerraform
)

// classify says what a file is from its name; files without an extension
// may be manifests (their content decides).
func classify(p string) fileKind {
	base := path.Base(p)
	lower := strings.ToLower(base)
	ext := path.Ext(lower)
	switch {
	case isDockerfile(lower):
		return kindDockerfile
	case ext == ".tf":
		return kindTerraform
	case ext == ".yaml" || ext == ".yml" || ext == ".json" || ext == "":
		return kindManifest
	}
	return kindNone
}

func isDockerfile(lower string) bool {
	for _, n := range []string{"dockerfile", "containerfile"} {
		if lower == n || strings.HasSuffix(lower, "."+n) {
			return true
		}
		if strings.HasPrefix(lower, n+".") {
			switch path.Ext(lower) {
			case ".dockerignore", ".md", ".txt", ".json", ".yaml", ".yml", ".sh", ".go", ".orig", ".bak", ".swp":
				return false
			}
			return true
		}
	}
	return false
}

// result is what one file gave.
type result struct {
	findings []scan.Finding
	problems []scan.Problem
}

func (r *result) problem(p, msg string) {
	r.problems = append(r.problems, scan.Problem{Scanner: ID, Path: p, Err: msg})
}

// Stats counts what a scan looked at.
type Stats struct {
	Manifests   int // files holding Kubernetes objects
	Objects     int // Kubernetes objects
	Dockerfiles int
	Modules     int // Terraform directories
	TFFiles     int
	Documents   int // documents evaluated by the Rego policies
	Findings    int
	Problems    int
}

// Scan scans the target's configuration files.
func (s *Scanner) Scan(ctx context.Context, t *scan.Target, emit func(scan.Finding), problem func(scan.Problem)) error {
	_, err := s.ScanStats(ctx, t, emit, problem)
	return err
}

// unit is a piece of work: a manifest, a Dockerfile or a Terraform
// module, with what it gave once done.
type unit struct {
	kind  fileKind
	file  scan.File   // the file, or a module's first file
	files []scan.File // a module's files
	done  chan struct{}
	out   []pathResult
	st    Stats
}

type pathResult struct {
	path string
	res  *result
}

// ScanStats is Scan returning what it looked at. Files are scanned by
// Options.Workers goroutines; findings are emitted in the target's file
// order (a Terraform module's files together, at its first file).
func (s *Scanner) ScanStats(ctx context.Context, t *scan.Target, emit func(scan.Finding), problem func(scan.Problem)) (Stats, error) {
	start := time.Now()
	skip := skippedManifests(t, s.readFile)
	var units []*unit
	modules := map[string]*unit{}
	for _, f := range t.Files {
		k := classify(f.Path)
		switch {
		case k == kindNone, k == kindManifest && skip[f.Path]:
			continue
		case k == kindTerraform:
			dir := path.Dir(f.Path)
			if u := modules[dir]; u != nil {
				u.files = append(u.files, f)
				continue
			}
			u := &unit{kind: k, file: f, files: []scan.File{f}, done: make(chan struct{})}
			modules[dir] = u
			units = append(units, u)
			continue
		}
		units = append(units, &unit{kind: k, file: f, done: make(chan struct{})})
	}

	work := make(chan *unit)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(s.workers, max(len(units), 1)) {
		wg.Go(func() {
			for u := range work {
				s.run(ctx, t, u)
				close(u.done)
			}
		})
	}
	go func() {
		defer close(work)
		for _, u := range units {
			select {
			case work <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()

	var st Stats
	for _, u := range units {
		select {
		case <-u.done:
		case <-ctx.Done():
			return st, ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.add(u.st)
		for _, pr := range u.out {
			sortFindings(pr.res.findings)
			for _, fd := range pr.res.findings {
				fd.Subject.Repository = t.Repository
				emit(fd)
			}
			if problem != nil {
				for _, p := range pr.res.problems {
					problem(p)
				}
			}
			st.Findings += len(pr.res.findings)
			st.Problems += len(pr.res.problems)
		}
	}
	s.log.DebugContext(ctx, "config scan done", "manifests", st.Manifests, "objects", st.Objects, "dockerfiles", st.Dockerfiles,
		"terraform_modules", st.Modules, "findings", st.Findings, "problems", st.Problems, "elapsed", time.Since(start))
	return st, nil
}

// run does one unit's work.
func (s *Scanner) run(ctx context.Context, t *scan.Target, u *unit) {
	if ctx.Err() != nil {
		return
	}
	var res *result
	switch u.kind {
	case kindManifest:
		res = s.manifest(ctx, t, u.file, &u.st)
	case kindDockerfile:
		res = s.dockerfile(ctx, t, u.file, &u.st)
	case kindTerraform:
		byPath := s.module(ctx, t, u.files, &u.st)
		for _, p := range slices.Sorted(maps.Keys(byPath)) {
			u.out = append(u.out, pathResult{p, byPath[p]})
		}
		return
	}
	if res != nil {
		u.out = []pathResult{{u.file.Path, res}}
	}
}

func (st *Stats) add(o Stats) {
	st.Manifests += o.Manifests
	st.Objects += o.Objects
	st.Dockerfiles += o.Dockerfiles
	st.Modules += o.Modules
	st.TFFiles += o.TFFiles
	st.Documents += o.Documents
}

func sortFindings(fs []scan.Finding) {
	slices.SortStableFunc(fs, func(a, b scan.Finding) int {
		return cmp.Or(cmp.Compare(a.Location.StartLine, b.Location.StartLine), strings.Compare(a.RuleID, b.RuleID),
			strings.Compare(a.Key, b.Key), strings.Compare(a.Message, b.Message))
	})
}

// readFile reads a target file up to the size limit.
func (s *Scanner) readFile(t *scan.Target, f scan.File) ([]byte, error) {
	if f.Size > s.maxSize {
		return nil, fmt.Errorf("file too large (%d bytes, limit %d)", f.Size, s.maxSize)
	}
	fh, err := os.Open(t.Abs(f))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, s.maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	if int64(len(data)) > s.maxSize {
		return nil, fmt.Errorf("file too large (more than %d bytes)", s.maxSize)
	}
	return data, nil
}

// head reads the first n bytes of a file.
func head(t *scan.Target, f scan.File, n int) []byte {
	fh, err := os.Open(t.Abs(f))
	if err != nil {
		return nil
	}
	defer fh.Close()
	buf := make([]byte, n)
	m, _ := io.ReadFull(fh, buf)
	return buf[:m]
}

// mayBeManifest is a cheap test before parsing: the text names apiVersion
// and kind.
func mayBeManifest(data []byte) bool {
	return bytes.Contains(data, []byte("apiVersion")) && bytes.Contains(data, []byte("kind"))
}

func (s *Scanner) manifest(ctx context.Context, t *scan.Target, f scan.File, st *Stats) *result {
	res := &result{}
	if path.Ext(f.Path) == "" {
		// a file without an extension is read only when it starts like a
		// manifest
		h := head(t, f, 4096)
		if !mayBeManifest(h) || bytes.IndexByte(h, 0) >= 0 {
			return nil
		}
	}
	data, err := s.readFile(t, f)
	if err != nil {
		if h := head(t, f, 64<<10); mayBeManifest(h) {
			res.problem(f.Path, err.Error())
			return res
		}
		return nil
	}
	if !mayBeManifest(data) {
		return nil
	}
	objs, errs := k8s.Load(data)
	for _, e := range errs {
		res.problem(f.Path, e.Error())
	}
	if len(objs) > 0 {
		st.Manifests++
		st.Objects += len(objs)
	}
	for i := range objs {
		o := &objs[i]
		k8s.Check(f.Path, o, func(fd scan.Finding) { res.findings = append(res.findings, fd) })
		if s.hasPolicies() {
			in, _ := k8s.Value(o.Node).(map[string]any)
			if in == nil {
				continue
			}
			in["input_kind"] = "kubernetes"
			subject := scan.Subject{}
			if _, ok := workloadKinds[o.Kind]; ok {
				subject.Workload = o.ID()
			}
			s.evalPolicies(ctx, in, f.Path, o.Line, o.ID(), subject, res, st, nil)
		}
	}
	return res
}

// workloadKinds are the kinds whose findings name a workload.
var workloadKinds = map[string]struct{}{
	"Pod": {}, "Deployment": {}, "StatefulSet": {}, "DaemonSet": {}, "ReplicaSet": {},
	"ReplicationController": {}, "Job": {}, "CronJob": {}, "PodTemplate": {},
}

func (s *Scanner) dockerfile(ctx context.Context, t *scan.Target, f scan.File, st *Stats) *result {
	res := &result{}
	data, err := s.readFile(t, f)
	if err != nil {
		res.problem(f.Path, err.Error())
		return res
	}
	if bytes.IndexByte(data, 0) >= 0 {
		res.problem(f.Path, "binary content, not a Dockerfile")
		return res
	}
	df := docker.Parse(data)
	if !slices.ContainsFunc(df.Stages, func(st docker.Stage) bool { return st.From.Cmd == "FROM" }) {
		res.problem(f.Path, "no FROM instruction")
		return res
	}
	st.Dockerfiles++
	docker.Check(f.Path, df, func(fd scan.Finding) { res.findings = append(res.findings, fd) })
	if s.hasPolicies() {
		s.evalPolicies(ctx, dockerInput(df), f.Path, 0, "dockerfile", scan.Subject{Image: df.BaseImage()}, res, st, nil)
	}
	return res
}

// dockerInput is a Dockerfile as Rego input.
func dockerInput(df *docker.Dockerfile) map[string]any {
	ins := func(list []docker.Instruction) []any {
		out := make([]any, 0, len(list))
		for _, in := range list {
			args := make([]any, len(in.Args))
			for i, a := range in.Args {
				args[i] = a
			}
			flags := make(map[string]any, len(in.Flags))
			for k, v := range in.Flags {
				flags[k] = v
			}
			var heredocs []any
			for _, h := range in.Heredocs {
				heredocs = append(heredocs, map[string]any{"name": h.Name, "body": h.Body})
			}
			out = append(out, map[string]any{"cmd": in.Cmd, "args": args, "flags": flags, "json": in.JSON,
				"line": in.Line, "end_line": in.EndLine, "heredocs": heredocs})
		}
		return out
	}
	stages := make([]any, 0, len(df.Stages))
	for _, stg := range df.Stages {
		fromStage := ""
		if prev := df.StageByName(stg.Image, stg.Index); prev != nil {
			fromStage = prev.Name
		}
		stages = append(stages, map[string]any{"from": stg.Image, "from_stage": fromStage, "name": stg.Name,
			"index": stg.Index, "platform": stg.Platform, "line": stg.From.Line, "instructions": ins(stg.Instructions)})
	}
	return map[string]any{"input_kind": "dockerfile", "args": ins(df.Args), "stages": stages}
}

// module scans the Terraform files of one directory and returns the
// results per file.
func (s *Scanner) module(ctx context.Context, t *scan.Target, tfFiles []scan.File, st *Stats) map[string]*result {
	out := map[string]*result{}
	var files []terraform.SourceFile
	for _, f := range tfFiles {
		out[f.Path] = &result{}
		data, err := s.readFile(t, f)
		if err != nil {
			out[f.Path].problem(f.Path, err.Error())
			continue
		}
		files = append(files, terraform.SourceFile{Path: f.Path, Data: data})
	}
	m, errs := terraform.Load(files)
	for _, e := range errs {
		var fe *terraform.FileError
		if errors.As(e, &fe) && out[fe.Path] != nil {
			out[fe.Path].problem(fe.Path, fe.Err.Error())
		}
	}
	st.Modules++
	st.TFFiles += len(m.Files)
	terraform.Check(m, func(fd scan.Finding) {
		if r := out[fd.Location.Path]; r != nil {
			r.findings = append(r.findings, fd)
		}
	})
	if s.hasPolicies() {
		for _, f := range m.Files {
			in := f.Data()
			in["input_kind"] = "terraform"
			lines := map[string]int{}
			for _, b := range f.Blocks {
				lines[b.Address()] = b.Line
			}
			s.evalPolicies(ctx, in, f.Path, 0, f.Path, scan.Subject{}, out[f.Path], st, lines)
		}
	}
	return out
}

func (s *Scanner) hasPolicies() bool {
	return s.policies != nil && len(s.policies.Rules()) > 0
}

// evalPolicies runs the Rego policies over one document and adds their
// findings. key names the document (an object's id, a resource file) so the
// fingerprint of a policy finding survives line moves. resourceLines are the
// lines of a Terraform file's blocks by address.
func (s *Scanner) evalPolicies(ctx context.Context, in map[string]any, p string, line int, key string, subject scan.Subject, res *result, st *Stats, resourceLines map[string]int) {
	st.Documents++
	results, err := s.policies.Eval(ctx, in)
	if err != nil {
		res.problem(p, err.Error())
		return
	}
	for _, r := range results {
		ln := line
		if l := resourceLines[r.Resource]; l > 0 {
			ln = l
		}
		if r.Line > 0 {
			ln = r.Line
		}
		title := r.Title
		if title == "" {
			title = r.Msg
		}
		res.findings = append(res.findings, scan.Finding{
			RuleID: r.ID, Kind: scan.KindConfig, Severity: r.Severity, Title: title, Message: r.Msg,
			Location:    scan.Location{Path: p, StartLine: ln, EndLine: ln},
			Remediation: r.Remediation, References: r.References, Subject: subject,
			Key: key + " " + r.Rule + " " + r.Msg,
		})
	}
}

// skippedManifests returns the YAML files that are not manifests though
// they may look like some: Helm chart templates and kustomize patches.
func skippedManifests(t *scan.Target, read func(*scan.Target, scan.File) ([]byte, error)) map[string]bool {
	skip := map[string]bool{}
	var charts []string
	for _, f := range t.Files {
		base := path.Base(f.Path)
		switch base {
		case "Chart.yaml", "Chart.yml":
			charts = append(charts, path.Join(path.Dir(f.Path), "templates")+"/")
		case "kustomization.yaml", "kustomization.yml", "Kustomization":
			data, err := read(t, f)
			if err != nil {
				continue
			}
			for _, p := range kustomizePatches(data) {
				skip[path.Join(path.Dir(f.Path), p)] = true
			}
		}
	}
	if len(charts) > 0 {
		for _, f := range t.Files {
			for _, c := range charts {
				if strings.HasPrefix(f.Path, c) {
					skip[f.Path] = true
				}
			}
		}
	}
	return skip
}

// kustomizePatches returns the patch files a kustomization names.
func kustomizePatches(data []byte) []string {
	var k struct {
		PatchesStrategicMerge []string `yaml:"patchesStrategicMerge"`
		Patches               []struct {
			Path string `yaml:"path"`
		} `yaml:"patches"`
		PatchesJSON6902 []struct {
			Path string `yaml:"path"`
		} `yaml:"patchesJson6902"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil
	}
	var out []string
	out = append(out, k.PatchesStrategicMerge...)
	for _, p := range k.Patches {
		if p.Path != "" {
			out = append(out, p.Path)
		}
	}
	for _, p := range k.PatchesJSON6902 {
		if p.Path != "" {
			out = append(out, p.Path)
		}
	}
	return out
}

var _ scan.Scanner = (*Scanner)(nil)
