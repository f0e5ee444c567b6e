package scan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// SARIF 2.1.0 (OASIS), the subset GitHub code scanning reads: one run, the
// rules that fired with their help and security-severity, the results with
// their physical locations, partial fingerprints (baselines across runs) and,
// for taint findings, a code flow from source to sink.
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifRootID  = "%SRCROOT%"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifact `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult            `json:"results"`
	Invocations        []sarifInvocation        `json:"invocations,omitempty"`
	Properties         map[string]any           `json:"properties,omitempty"`
	rules              map[string]int           // rule id → index in Tool.Driver.Rules
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      *sarifText     `json:"fullDescription,omitempty"`
	Help                 *sarifText     `json:"help,omitempty"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration sarifRuleConf  `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifRuleConf struct {
	Level string `json:"level"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int        `json:"startLine,omitempty"`
	EndLine     int        `json:"endLine,omitempty"`
	StartColumn int        `json:"startColumn,omitempty"`
	EndColumn   int        `json:"endColumn,omitempty"`
	Snippet     *sarifText `json:"snippet,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
	Message          *sarifText    `json:"message,omitempty"`
}

type sarifThreadFlowLocation struct {
	Location sarifLocation `json:"location"`
}

type sarifThreadFlow struct {
	Locations []sarifThreadFlowLocation `json:"locations"`
}

type sarifCodeFlow struct {
	ThreadFlows []sarifThreadFlow `json:"threadFlows"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	CodeFlows           []sarifCodeFlow   `json:"codeFlows,omitempty"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s Severity) string {
	switch s {
	case SeverityCritical, SeverityHigh:
		return "error"
	case SeverityMedium:
		return "warning"
	default:
		return "note"
	}
}

// securitySeverity is the score GitHub ranks security results by: the CVSS
// base score when there is one, else the middle of the severity's band.
func securitySeverity(f *Finding) string {
	if f.Vuln != nil && f.Vuln.Score > 0 {
		return strconv.FormatFloat(f.Vuln.Score, 'f', 1, 64)
	}
	switch f.Severity {
	case SeverityCritical:
		return "9.5"
	case SeverityHigh:
		return "8.0"
	case SeverityMedium:
		return "5.5"
	case SeverityLow:
		return "2.0"
	default:
		return "0.0"
	}
}

// sarifURI makes a target-relative slash path a relative URI reference.
func sarifURI(p string) string {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func sarifLoc(l Location, msg string) sarifLocation {
	loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: sarifURI(l.Path), URIBaseID: sarifRootID}}}
	if l.StartLine > 0 {
		r := &sarifRegion{StartLine: l.StartLine, StartColumn: l.StartCol}
		if l.EndLine >= l.StartLine {
			r.EndLine = l.EndLine
		}
		if l.EndCol > 0 && (r.EndLine == 0 || r.EndLine == l.StartLine) && l.EndCol > l.StartCol {
			r.EndColumn = l.EndCol
		}
		if l.Snippet != "" {
			r.Snippet = &sarifText{Text: l.Snippet}
		}
		loc.PhysicalLocation.Region = r
	}
	if msg != "" {
		loc.Message = &sarifText{Text: msg}
	}
	return loc
}

// WriteSARIF writes the report as a SARIF 2.1.0 log.
func (r *Report) WriteSARIF(w io.Writer) error {
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: r.Tool, Version: r.Version, InformationURI: "https://github.com/vigilsec/vigil", Rules: []sarifRule{}}},
		Results: []sarifResult{},
		rules:   map[string]int{},
	}
	if r.Root != "" {
		root := (&url.URL{Scheme: "file", Path: strings.TrimSuffix(filepathToSlash(r.Root), "/") + "/"}).String()
		run.OriginalURIBaseIDs = map[string]sarifArtifact{sarifRootID: {URI: root}}
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		idx, ok := run.rules[f.RuleID]
		if !ok {
			idx = len(run.Tool.Driver.Rules)
			run.rules[f.RuleID] = idx
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleOf(f))
		}
		res := sarifResult{
			RuleID: f.RuleID, RuleIndex: idx, Level: sarifLevel(f.Severity),
			Message:             sarifText{Text: cmp.Or(f.Message, f.Title, f.RuleID)},
			Locations:           []sarifLocation{sarifLoc(f.Location, "")},
			PartialFingerprints: map[string]string{"vigil/v1": cmp.Or(f.Fingerprint, f.ComputeFingerprint())},
			Properties:          map[string]any{"kind": string(f.Kind), "severity": f.Severity.String()},
		}
		if f.Location.Commit != "" {
			res.Properties["commit"] = f.Location.Commit
		}
		if f.Package != nil {
			res.Properties["package"] = f.Package
		}
		if len(f.Trace) > 0 {
			tf := sarifThreadFlow{}
			for _, l := range f.Trace {
				tf.Locations = append(tf.Locations, sarifThreadFlowLocation{Location: sarifLoc(l, l.Snippet)})
			}
			res.CodeFlows = []sarifCodeFlow{{ThreadFlows: []sarifThreadFlow{tf}}}
		}
		run.Results = append(run.Results, res)
	}
	inv := sarifInvocation{ExecutionSuccessful: true}
	for _, p := range r.Problems {
		n := sarifNotification{Level: "warning", Message: sarifText{Text: p.Scanner + ": " + p.Err}}
		if p.Path != "" {
			n.Locations = []sarifLocation{sarifLoc(Location{Path: p.Path}, "")}
		}
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
	}
	run.Invocations = []sarifInvocation{inv}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}); err != nil {
		return fmt.Errorf("writing the SARIF report: %w", err)
	}
	return nil
}

func sarifRuleOf(f *Finding) sarifRule {
	rule := sarifRule{
		ID: f.RuleID, Name: ruleName(f.Title),
		ShortDescription:     sarifText{Text: cmp.Or(f.Title, f.RuleID)},
		DefaultConfiguration: sarifRuleConf{Level: sarifLevel(f.Severity)},
		Properties: map[string]any{
			"security-severity": securitySeverity(f),
			"tags":              append([]string{"security", string(f.Kind)}, cweTags(f.References)...),
		},
	}
	var help strings.Builder
	if f.Remediation != "" {
		help.WriteString(f.Remediation)
	}
	for _, ref := range f.References {
		if help.Len() > 0 {
			help.WriteString("\n")
		}
		help.WriteString("- " + ref)
		if rule.HelpURI == "" && (strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://")) {
			rule.HelpURI = ref
		}
	}
	if help.Len() > 0 {
		rule.Help = &sarifText{Text: help.String()}
	}
	if f.Vuln != nil && f.Package != nil {
		rule.FullDescription = &sarifText{Text: fmt.Sprintf("%s %s: %s", f.Package.Name, f.Package.Version, cmp.Or(f.Title, f.RuleID))}
	}
	return rule
}

// ruleName makes a PascalCase rule name from a title ("Privileged
// container" → "PrivilegedContainer"), as SARIF viewers show it.
func ruleName(title string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(title, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// cweTags turns CWE references ("CWE-89") into GitHub's tag form
// ("external/cwe/cwe-89").
func cweTags(refs []string) []string {
	var out []string
	for _, r := range refs {
		if rest, ok := strings.CutPrefix(strings.ToUpper(r), "CWE-"); ok {
			if _, err := strconv.Atoi(rest); err == nil {
				out = append(out, "external/cwe/cwe-"+rest)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// filepathToSlash turns an OS path into a URL path (a Windows drive gets a
// leading slash).
func filepathToSlash(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	if len(p) >= 2 && p[1] == ':' {
		p = "/" + p
	}
	return p
}
