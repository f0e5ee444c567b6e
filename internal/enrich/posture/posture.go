// Package posture is what pre-production analysis (vigil scan) found about the
// things that run: container images, Kubernetes workloads and repositories,
// each with its findings. vigil scan --data-dir records a scan's posture in
// the data directory; hunt and serve load it, and the correlator raises the
// risk of an incident on a workload with a privileged pod spec or a critical
// reachable vulnerability, and says so in its explanation.
package posture

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// FileName is the posture file in a data directory.
const FileName = "posture.json"

const (
	fileVersion = 1
	maxFile     = 256 << 20
	// maxReasonFindings bounds the findings a reason names.
	maxReasonFindings = 3
)

// Subject kinds.
const (
	KindImage      = "image"
	KindWorkload   = "workload" // "namespace/Kind/name"
	KindRepository = "repository"
)

// Level is how exposed a subject is: the worst of its findings, 0 (none) to
// 4 (critical: a critical vulnerability the code reaches, or a critical
// misconfiguration).
type Level uint8

// Levels.
const (
	LevelNone Level = iota
	LevelLow
	LevelMedium
	LevelHigh
	LevelCritical
)

var levelNames = [...]string{"none", "low", "medium", "high", "critical"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Finding is one finding of a subject, as the posture keeps it.
type Finding struct {
	RuleID   string `json:"rule_id"`
	Kind     string `json:"kind"`     // dependency, config, code, secret
	Severity string `json:"severity"` // low, medium, high, critical
	Title    string `json:"title"`
	// Reachable is set for vulnerabilities the scanned code was shown to
	// call (nil: not analysed).
	Reachable *bool `json:"reachable,omitempty"`
}

// level is the finding's weight in the posture: its severity, except that a
// vulnerability the code does not reach counts one level lower.
func (f Finding) level() Level {
	l := LevelNone
	switch strings.ToLower(f.Severity) {
	case "low":
		l = LevelLow
	case "medium", "moderate":
		l = LevelMedium
	case "high":
		l = LevelHigh
	case "critical":
		l = LevelCritical
	}
	if f.Reachable != nil && !*f.Reachable && l > LevelLow {
		l--
	}
	return l
}

// Subject is an image, workload or repository and its findings.
type Subject struct {
	Kind     string    `json:"kind"`
	Value    string    `json:"value"`
	Findings []Finding `json:"findings"`
}

// Scan is one scan's posture.
type Scan struct {
	Root       string    `json:"root"` // the scanned path: a later scan of it replaces this one
	Repository string    `json:"repository,omitempty"`
	At         time.Time `json:"at"`
	Subjects   []Subject `json:"subjects"`
}

// File is the posture file: the latest scan of each root.
type File struct {
	Version int    `json:"version"`
	Scans   []Scan `json:"scans"`
}

// Read reads a posture file; a missing file is an empty posture.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Version: fileVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the posture: %w", err)
	}
	return Decode(bytes.NewReader(b))
}

// Decode reads a posture file's content, strictly.
func Decode(r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the posture: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("reading the posture: larger than %d bytes", maxFile)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("reading the posture: %w", err)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("reading the posture: version %d, this build reads %d", f.Version, fileVersion)
	}
	for i, s := range f.Scans {
		for j, sub := range s.Subjects {
			switch sub.Kind {
			case KindImage, KindWorkload, KindRepository:
			default:
				return nil, fmt.Errorf("reading the posture: scan %d subject %d: unknown kind %q", i, j, sub.Kind)
			}
			if sub.Value == "" {
				return nil, fmt.Errorf("reading the posture: scan %d subject %d: no value", i, j)
			}
		}
	}
	return &f, nil
}

// Put records a scan, replacing the earlier scan of the same root.
func (f *File) Put(s Scan) {
	f.Version = fileVersion
	f.Scans = slices.DeleteFunc(f.Scans, func(o Scan) bool { return o.Root == s.Root })
	f.Scans = append(f.Scans, s)
	slices.SortFunc(f.Scans, func(a, b Scan) int { return strings.Compare(a.Root, b.Root) })
}

// Write writes the posture file atomically.
func (f *File) Write(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the posture: %w", err)
	}
	if err := atomicfile.WriteBytes(path, 0o600, append(b, '\n')); err != nil {
		return fmt.Errorf("writing the posture: %w", err)
	}
	return nil
}

// Index answers what the posture says of a runtime entity.
type Index struct {
	by map[string]*entry // kind + "\x00" + lower-cased key
}

type entry struct {
	level    Level
	subjects []string // "workload default/Deployment/web"
	findings []Finding
}

// Index builds the lookup over every scan's subjects.
func (f *File) Index() *Index {
	ix := &Index{by: map[string]*entry{}}
	for _, s := range f.Scans {
		for _, sub := range s.Subjects {
			for _, key := range keysOf(sub.Kind, sub.Value) {
				e := ix.by[key]
				if e == nil {
					e = &entry{}
					ix.by[key] = e
				}
				label := sub.Kind + " " + sub.Value
				if !slices.Contains(e.subjects, label) {
					e.subjects = append(e.subjects, label)
				}
				for _, fd := range sub.Findings {
					e.level = max(e.level, fd.level())
					e.findings = append(e.findings, fd)
				}
			}
		}
	}
	for _, e := range ix.by {
		slices.SortStableFunc(e.findings, func(a, b Finding) int {
			return cmp.Or(cmp.Compare(b.level(), a.level()), strings.Compare(a.RuleID, b.RuleID))
		})
		e.findings = slices.CompactFunc(e.findings, func(a, b Finding) bool { return a.RuleID == b.RuleID })
	}
	return ix
}

// keysOf are the keys a subject is found under: a workload
// "namespace/Kind/name" also as "namespace/name" (how runtime events name
// it); an image also without its registry and tag.
func keysOf(kind, value string) []string {
	v := strings.ToLower(strings.TrimSpace(value))
	keys := []string{kind + "\x00" + v}
	switch kind {
	case KindWorkload:
		if parts := strings.Split(v, "/"); len(parts) == 3 {
			keys = append(keys, kind+"\x00"+parts[0]+"/"+parts[2])
		}
	case KindImage:
		if repo := imageRepo(v); repo != v {
			keys = append(keys, kind+"\x00"+repo)
		}
	}
	return keys
}

// imageRepo strips an image reference's digest and tag.
func imageRepo(v string) string {
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[:i]
	}
	if i := strings.LastIndexByte(v, ':'); i > strings.LastIndexByte(v, '/') {
		v = v[:i]
	}
	return v
}

// Lookup returns the exposure of a runtime entity (kind "workload" or
// "image"; other kinds have none) and a sentence saying why. A workload's pod
// ("default/web-7d9f8c6b5-x2k4q") finds its controller ("default/web").
func (ix *Index) Lookup(kind, value string) (Level, string) {
	if ix == nil || len(ix.by) == 0 || (kind != KindWorkload && kind != KindImage) {
		return LevelNone, ""
	}
	v := strings.ToLower(strings.TrimSpace(value))
	e := ix.by[kind+"\x00"+v]
	if kind == KindImage && e == nil {
		e = ix.by[kind+"\x00"+imageRepo(v)]
	}
	if kind == KindWorkload {
		// a pod of a ReplicaSet (name-hash-suffix), a StatefulSet (name-0)
		// or a DaemonSet/Job (name-suffix): strip up to two segments
		for range 2 {
			if e != nil {
				break
			}
			i := strings.LastIndexByte(v, '-')
			if i <= strings.IndexByte(v, '/') {
				break
			}
			v = v[:i]
			e = ix.by[kind+"\x00"+v]
		}
	}
	if e == nil || e.level == LevelNone {
		return LevelNone, ""
	}
	return e.level, e.reason()
}

func (e *entry) reason() string {
	var parts []string
	for i, f := range e.findings {
		if i == maxReasonFindings {
			parts = append(parts, fmt.Sprintf("%d more", len(e.findings)-i))
			break
		}
		s := fmt.Sprintf("%s (%s, %s", f.Title, f.RuleID, strings.ToLower(f.Severity))
		if f.Reachable != nil && *f.Reachable {
			s += ", reachable"
		}
		parts = append(parts, s+")")
	}
	return fmt.Sprintf("%s: %s", strings.Join(e.subjects, ", "), strings.Join(parts, "; "))
}
