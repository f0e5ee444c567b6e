// Package k8s finds misconfigurations in Kubernetes manifests: the pod specs
// of workloads (privileged containers, host namespaces, hostPath volumes,
// capabilities, root users, secrets in env, missing limits and hardening) and
// RBAC roles (wildcards, secrets, escalate/bind/impersonate).
//
// Manifests are recognised by content: a YAML or JSON document is a
// Kubernetes object when it is a mapping with apiVersion and kind. Files hold
// any number of documents (what `helm template` and `kustomize build` print);
// a `kind: List` (or FooList) object is expanded to its items. A document that
// cannot be parsed is an error only when it looks like a manifest (apiVersion
// and kind keys in its text, and no `{{` template action); other YAML is
// ignored.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Object is one Kubernetes object of a file.
type Object struct {
	APIVersion string
	Kind       string
	Name       string // metadata.name (or metadata.generateName)
	Namespace  string // metadata.namespace, empty when absent
	// Node is the object's mapping; node lines are lines of the file.
	Node *yaml.Node
	// Line is the line of the object's first key.
	Line int
}

// ID names the object as "namespace/Kind/name" ("default" when a namespaced
// object has no namespace) or "Kind/name" for cluster-scoped kinds.
func (o *Object) ID() string {
	if clusterScoped[o.Kind] {
		return o.Kind + "/" + o.Name
	}
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + o.Kind + "/" + o.Name
}

var clusterScoped = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "Namespace": true, "Node": true,
	"PersistentVolume": true, "CustomResourceDefinition": true, "StorageClass": true,
	"PriorityClass": true, "ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
	"APIService": true, "IngressClass": true, "RuntimeClass": true, "PodSecurityPolicy": true,
	"CSIDriver": true, "VolumeAttachment": true, "CertificateSigningRequest": true,
}

// DocError is a document that looks like a manifest but cannot be parsed.
type DocError struct {
	Line int // the document's first line
	Err  error
}

func (e *DocError) Error() string { return fmt.Sprintf("document at line %d: %v", e.Line, e.Err) }
func (e *DocError) Unwrap() error { return e.Err }

// Limits on one document: the number of nodes it expands to through
// aliases (a billion-laughs file parses into a small tree that expands
// exponentially) and the depth of List nesting.
const (
	maxExpandedNodes = 1 << 20
	maxListDepth     = 4
)

// ErrTooLarge is a document whose aliases expand beyond the limit.
var ErrTooLarge = errors.New("document expands to too many nodes through aliases")

// Load returns the Kubernetes objects of a YAML or JSON file in document
// order, and the documents that look like manifests but could not be parsed.
// Documents that are not Kubernetes objects are skipped without error.
func Load(data []byte) ([]Object, []error) {
	var objs []Object
	var errs []error
	for _, c := range splitDocuments(data) {
		if len(bytes.TrimSpace(c.text)) == 0 {
			continue
		}
		root, err := parseDocument(c.text)
		if err != nil {
			if looksLikeManifest(c.text) {
				first := c.line
				if isDocMarker(c.text) {
					first++ // the document's text starts after its marker
				}
				errs = append(errs, &DocError{Line: first, Err: shiftLines(err, c.line-1)})
			}
			continue
		}
		if root == nil {
			continue
		}
		offsetLines(root, c.line-1)
		if n := expandedSize(root, map[*yaml.Node]int{}, 0); n > maxExpandedNodes {
			errs = append(errs, &DocError{Line: c.line, Err: ErrTooLarge})
			continue
		}
		objs = appendObjects(objs, root, 0)
	}
	return objs, errs
}

// appendObjects adds n to objs when it is an object, or its items when it is
// a List.
func appendObjects(objs []Object, n *yaml.Node, depth int) []Object {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return objs
	}
	apiVersion, kind := scalar(get(n, "apiVersion")), scalar(get(n, "kind"))
	if apiVersion == "" || kind == "" {
		return objs
	}
	if items := resolve(get(n, "items")); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		if depth >= maxListDepth {
			return objs
		}
		for _, it := range items.Content {
			objs = appendObjects(objs, it, depth+1)
		}
		return objs
	}
	meta := get(n, "metadata")
	name := scalar(get(meta, "name"))
	if name == "" {
		if g := scalar(get(meta, "generateName")); g != "" {
			name = g + "*"
		}
	}
	return append(objs, Object{
		APIVersion: apiVersion, Kind: kind, Name: name, Namespace: scalar(get(meta, "namespace")),
		Node: n, Line: n.Line,
	})
}

type chunk struct {
	text []byte
	line int // line of the chunk's first line in the file
}

// splitDocuments cuts a YAML stream at document markers ("---" at the start
// of a line, which ends a document in any context), so a broken document does
// not hide the ones after it. The marker line stays with the document it
// starts (it may carry content: "--- !tag" or "--- {a: 1}").
func splitDocuments(data []byte) []chunk {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var out []chunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		l := data[i:next]
		if i > start && isDocMarker(l) {
			out = append(out, chunk{text: data[start:i], line: startLine})
			start, startLine = i, line
		}
		line++
		i = next
	}
	return append(out, chunk{text: data[start:], line: startLine})
}

func isDocMarker(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r'
}

// parseDocument parses one document into its root node (nil when empty). A
// panic in the YAML parser on hostile input is an error.
func parseDocument(text []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml parser panic: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	// a "..." end marker can leave a second document in the chunk: it is
	// parsed on its own only when there is one, which is rare; keep the first.
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0], nil
	}
	return nil, nil
}

var manifestKeys = [2]*regexp.Regexp{
	regexp.MustCompile(`(?m)^\s*(- )?"?apiVersion"?\s*:`),
	regexp.MustCompile(`(?m)^\s*(- )?"?kind"?\s*:`),
}

// looksLikeManifest reports whether a document's text has apiVersion and
// kind keys and is not a template (Helm's {{ }} actions break YAML and are
// not manifests until rendered).
func looksLikeManifest(text []byte) bool {
	if bytes.Contains(text, []byte("{{")) {
		return false
	}
	return manifestKeys[0].Match(text) && manifestKeys[1].Match(text)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// shiftLines rewrites the "line N" of a parser error to a line of the file.
func shiftLines(err error, off int) error {
	if off == 0 {
		return err
	}
	msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(s string) string {
		n, convErr := strconv.Atoi(s[len("line "):])
		if convErr != nil {
			return s
		}
		return "line " + strconv.Itoa(n+off)
	})
	return errors.New(msg)
}

// offsetLines moves every node's line by off (a document's lines count from
// its chunk). Aliases are not followed: their targets are in the tree.
func offsetLines(n *yaml.Node, off int) {
	if off == 0 {
		return
	}
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n.Line += off
		stack = append(stack, n.Content...)
	}
}

// expandedSize counts the nodes n expands to through aliases, memoised per
// node, stopping once the count passes the limit.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, depth int) int {
	if n == nil {
		return 0
	}
	if v, ok := memo[n]; ok {
		return v
	}
	if depth > 10000 {
		return maxExpandedNodes + 1
	}
	size := 1
	if n.Kind == yaml.AliasNode {
		memo[n] = maxExpandedNodes + 1 // a cycle counts as too large
		size += expandedSize(n.Alias, memo, depth+1)
	}
	for _, c := range n.Content {
		if size > maxExpandedNodes {
			break
		}
		size += expandedSize(c, memo, depth+1)
	}
	memo[n] = size
	return size
}
