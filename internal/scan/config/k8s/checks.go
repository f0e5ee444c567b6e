package k8s

import (
	"fmt"
	stdpath "path"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/rule"
)

// Check runs the built-in checks on one object of the file at path (relative
// to the target's root) and reports each finding through emit, in the order
// the checks run (callers sort a file's findings by line).
func Check(path string, o *Object, emit func(scan.Finding)) {
	c := checker{path: path, obj: o, emit: emit, id: o.ID()}
	switch o.Kind {
	case "Role", "ClusterRole":
		c.rbac()
		return
	}
	if spec, meta, specLine := podSpec(o); spec != nil {
		c.pod(spec, meta, specLine)
	}
}

// podSpec finds the pod spec of the kinds that create pods, with the pod
// template's metadata (for seccomp annotations) and the line of the "spec"
// key holding it.
func podSpec(o *Object) (spec, meta *yaml.Node, specLine int) {
	n := o.Node
	var tmpl *yaml.Node
	switch o.Kind {
	case "Pod":
		k, v := getKV(n, "spec")
		return v, get(n, "metadata"), line(k, o.Line)
	case "PodTemplate":
		tmpl = get(n, "template")
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		tmpl = path(n, "spec", "template")
	case "CronJob":
		tmpl = path(n, "spec", "jobTemplate", "spec", "template")
	default:
		return nil, nil, 0
	}
	k, v := getKV(tmpl, "spec")
	if v == nil || v.Kind != yaml.MappingNode {
		return nil, nil, 0
	}
	return v, get(tmpl, "metadata"), line(k, o.Line)
}

type checker struct {
	path string
	obj  *Object
	id   string // namespace/Kind/name
	emit func(scan.Finding)
}

func (c *checker) report(r rule.Rule, ln int, key, image, msg string) {
	f := r.Finding(c.path, ln, key, msg)
	f.Subject = scan.Subject{Image: image}
	if !clusterScoped[c.obj.Kind] && c.obj.Kind != "Role" {
		f.Subject.Workload = c.id
	}
	c.emit(f)
}

// container is one container of a pod spec.
type container struct {
	node  *yaml.Node
	name  string
	image string
	field string // containers, initContainers or ephemeralContainers
	line  int
}

func (ct *container) label() string {
	switch ct.field {
	case "initContainers":
		return "init container " + ct.name
	case "ephemeralContainers":
		return "ephemeral container " + ct.name
	}
	return "container " + ct.name
}

func containers(spec *yaml.Node) []container {
	var out []container
	for _, field := range []string{"containers", "initContainers", "ephemeralContainers"} {
		for _, n := range items(get(spec, field)) {
			if n.Kind != yaml.MappingNode {
				continue
			}
			out = append(out, container{node: n, name: scalar(get(n, "name")), image: scalar(get(n, "image")),
				field: field, line: n.Line})
		}
	}
	return out
}

func (c *checker) pod(spec, meta *yaml.Node, specLine int) {
	cts := containers(spec)
	// pod-level findings name the image when the pod has one container
	podImage, n := "", 0
	for _, ct := range cts {
		if ct.field == "containers" {
			n++
			podImage = ct.image
		}
	}
	if n != 1 {
		podImage = ""
	}
	podSC := get(spec, "securityContext")

	// pod-level settings
	for _, h := range []struct {
		field string
		r     rule.Rule
		what  string
	}{
		{"hostNetwork", rHostNetwork, "the host's network namespace"},
		{"hostPID", rHostPID, "the host's process namespace"},
		{"hostIPC", rHostIPC, "the host's IPC namespace"},
	} {
		if k, v := getKV(spec, h.field); isTrue(v) {
			c.report(h.r, line(k, specLine), c.id, podImage, fmt.Sprintf("%s shares %s (%s: true).", c.id, h.what, h.field))
		}
	}
	c.volumes(spec, specLine, podImage)
	if k, v := getKV(spec, "automountServiceAccountToken"); isTrue(v) || !isSetBool(v) {
		c.report(rServiceAccountToken, line(k, specLine), c.id, podImage,
			fmt.Sprintf("%s mounts its service account token (automountServiceAccountToken is not false).", c.id))
	}

	annotations := get(meta, "annotations")
	podSeccomp, podSeccompLine := seccompOf(podSC, scalar(get(annotations, "seccomp.security.alpha.kubernetes.io/pod")))
	if podSeccompLine == 0 {
		podSeccompLine = line(get(annotations, "seccomp.security.alpha.kubernetes.io/pod"), 0)
	}

	for i := range cts {
		ct := &cts[i]
		key := c.id + " " + ct.label()
		sc := get(ct.node, "securityContext")
		where := fmt.Sprintf("%s of %s", strings.ToUpper(ct.label()[:1])+ct.label()[1:], c.id)

		if k, v := getKV(sc, "privileged"); isTrue(v) {
			c.report(rPrivileged, line(k, ct.line), key, ct.image, where+" runs privileged (privileged: true).")
		}
		if k, v := getKV(sc, "allowPrivilegeEscalation"); isTrue(v) {
			c.report(rEscalationAllowed, line(k, ct.line), key, ct.image, where+" allows privilege escalation (allowPrivilegeEscalation: true).")
		} else if !isSetBool(v) {
			c.report(rEscalationNotDisabled, ct.line, key, ct.image, where+" does not set allowPrivilegeEscalation: false.")
		}

		c.user(ct, key, where, sc, podSC)
		c.capabilities(ct, key, where, sc)

		if k, v := getKV(sc, "readOnlyRootFilesystem"); !isTrue(v) {
			c.report(rWritableRootFS, line(k, ct.line), key, ct.image, where+" has a writable root filesystem (readOnlyRootFilesystem is not true).")
		}

		// seccomp: the container's field, its annotation, then the pod's
		profile, ln := seccompOf(sc, scalar(get(annotations, "container.seccomp.security.alpha.kubernetes.io/"+ct.name)))
		if profile == "" {
			profile, ln = podSeccomp, podSeccompLine
		}
		switch strings.ToLower(profile) {
		case "":
			c.report(rNoSeccomp, ct.line, key, ct.image, where+" has no seccomp profile (neither it nor the pod sets seccompProfile).")
		case "unconfined":
			if ln == 0 {
				ln = ct.line
			}
			c.report(rSeccompUnconfined, ln, key, ct.image, where+" runs with seccomp unconfined.")
		}

		if ct.field != "ephemeralContainers" {
			c.limits(ct, key, where)
			c.hostPorts(ct, key, where)
		}
		c.image(ct, key, where)
		c.env(ct, key, where)
	}
}

// isSetBool reports whether n holds a boolean.
func isSetBool(n *yaml.Node) bool {
	_, set := boolean(n)
	return set
}

// seccompOf returns the seccomp profile type a security context sets (or its
// legacy annotation value: runtime/default, docker/default, localhost/...,
// unconfined) and the line where it is set.
func seccompOf(sc *yaml.Node, annotation string) (string, int) {
	if t := get(get(sc, "seccompProfile"), "type"); scalar(t) != "" {
		return scalar(t), t.Line
	}
	switch a := strings.ToLower(annotation); {
	case a == "":
		return "", 0
	case a == "runtime/default" || a == "docker/default":
		return "RuntimeDefault", 0
	case strings.HasPrefix(a, "localhost/"):
		return "Localhost", 0
	case a == "unconfined":
		return "Unconfined", 0
	}
	return annotation, 0
}

func (c *checker) user(ct *container, key, where string, sc, podSC *yaml.Node) {
	uid := get(sc, "runAsUser")
	if uid == nil {
		uid = get(podSC, "runAsUser")
	}
	u, uidSet := integer(uid)
	if uidSet && u == 0 {
		c.report(rRunAsRootUser, line(uid, ct.line), key, ct.image, where+" runs as UID 0 (runAsUser: 0).")
		return
	}
	nonRoot := get(sc, "runAsNonRoot")
	if !isSetBool(nonRoot) {
		nonRoot = get(podSC, "runAsNonRoot")
	}
	if isTrue(nonRoot) || uidSet {
		return
	}
	c.report(rRunAsNonRootUnset, ct.line, key, ct.image, where+" may run as root (runAsNonRoot is not true and runAsUser is not set).")
}

// dangerousCaps are capabilities that give a container power over the node
// or other workloads; ALL is every capability.
var dangerousCaps = map[string]bool{
	"ALL": true, "SYS_ADMIN": true, "NET_ADMIN": true, "SYS_PTRACE": true, "SYS_MODULE": true,
	"DAC_READ_SEARCH": true, "NET_RAW": true, "SYS_RAWIO": true, "SYS_BOOT": true, "BPF": true,
	"PERFMON": true, "SYS_TIME": true, "MAC_ADMIN": true, "MAC_OVERRIDE": true, "SYSLOG": true,
	"DAC_OVERRIDE": false, "SYS_CHROOT": false, "MKNOD": false,
}

func normCap(s string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "CAP_")
}

func (c *checker) capabilities(ct *container, key, where string, sc *yaml.Node) {
	caps := get(sc, "capabilities")
	addK, add := getKV(caps, "add")
	var bad []string
	for _, s := range stringList(add) {
		if cp := normCap(s); dangerousCaps[cp] && !slices.Contains(bad, cp) {
			bad = append(bad, cp)
		}
	}
	if len(bad) > 0 {
		c.report(rDangerousCapability, line(addK, ct.line), key, ct.image,
			fmt.Sprintf("%s adds capabilities %s.", where, strings.Join(bad, ", ")))
	}
	dropped := false
	for _, s := range stringList(get(caps, "drop")) {
		if normCap(s) == "ALL" {
			dropped = true
		}
	}
	if !dropped {
		c.report(rCapabilitiesNotDropped, ct.line, key, ct.image, where+" does not drop ALL capabilities.")
	}
}

func (c *checker) limits(ct *container, key, where string) {
	k, limits := getKV(get(ct.node, "resources"), "limits")
	var missing []string
	for _, r := range []string{"cpu", "memory"} {
		if scalar(get(limits, r)) == "" {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		c.report(rNoResourceLimits, line(k, ct.line), key, ct.image,
			fmt.Sprintf("%s has no %s limit.", where, strings.Join(missing, " or ")))
	}
}

func (c *checker) hostPorts(ct *container, key, where string) {
	for _, p := range items(get(ct.node, "ports")) {
		k, v := getKV(p, "hostPort")
		if n, ok := integer(v); ok && n != 0 {
			c.report(rHostPort, line(k, ct.line), fmt.Sprintf("%s hostPort %d", key, n), ct.image,
				fmt.Sprintf("%s binds host port %d.", where, n))
		}
	}
}

func (c *checker) image(ct *container, key, where string) {
	img := ct.image
	if img == "" || strings.ContainsAny(img, "${}") {
		return // a patch without an image, or a template
	}
	tag, digest := splitImage(img)
	switch {
	case digest:
		return
	case tag == "":
		c.report(rMutableImageTag, line(get(ct.node, "image"), ct.line), key, ct.image,
			fmt.Sprintf("%s uses image %s without a tag (latest is pulled).", where, img))
	case tag == "latest":
		c.report(rMutableImageTag, line(get(ct.node, "image"), ct.line), key, ct.image,
			fmt.Sprintf("%s uses image %s (the latest tag moves).", where, img))
	}
}

// splitImage returns an image reference's tag ("" when none) and whether it
// is pinned by digest. The registry's port (host:5000/img) is not a tag.
func splitImage(ref string) (tag string, digest bool) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return "", true
	}
	last := ref
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		last = ref[i+1:]
	}
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		return last[i+1:], false
	}
	return "", false
}

// SplitImage is splitImage for the other configuration checks (Dockerfile).
func SplitImage(ref string) (tag string, digest bool) { return splitImage(ref) }

func (c *checker) env(ct *container, key, where string) {
	for _, e := range items(get(ct.node, "env")) {
		name := scalar(get(e, "name"))
		v := get(e, "value")
		if name == "" || v == nil || get(e, "valueFrom") != nil {
			continue
		}
		if rule.SecretName(name) && rule.LiteralSecret(scalar(v)) {
			c.report(rSecretInEnv, line(v, ct.line), key+" env "+name, ct.image,
				fmt.Sprintf("%s sets %s to a literal value; it looks like a secret.", where, name))
		}
	}
}

// sensitiveHostPaths are host paths whose mount gives control of the node.
var sensitiveHostPaths = map[string]bool{
	"/": true, "/etc": true, "/var/run": true, "/run": true, "/var": true, "/root": true, "/home": true,
	"/proc": true, "/sys": true, "/dev": true, "/boot": true, "/usr": true, "/bin": true, "/sbin": true,
	"/lib": true, "/var/lib": true, "/var/lib/docker": true, "/var/lib/containerd": true,
	"/var/lib/kubelet": true, "/var/lib/etcd": true, "/etc/kubernetes": true, "/run/containerd": true,
	"/var/run/containerd": true, "/run/crio": true, "/var/run/crio": true, "/var/lib/kubelet/pki": true,
	"/etc/kubernetes/pki": true, "/var/lib/rancher": true,
}

// SensitiveHostPath reports whether mounting the host path p gives control
// of the node: the root, /etc, /var/run and the like, kubelet and etcd state,
// and any socket (docker.sock, containerd.sock, crio.sock).
func SensitiveHostPath(p string) bool {
	p = stdpath.Clean("/" + strings.TrimSpace(p))
	return sensitiveHostPaths[p] || strings.HasSuffix(p, ".sock") ||
		strings.HasPrefix(p, "/etc/kubernetes/") || strings.HasPrefix(p, "/var/lib/kubelet/")
}

func (c *checker) volumes(spec *yaml.Node, specLine int, image string) {
	for _, v := range items(get(spec, "volumes")) {
		k, hp := getKV(v, "hostPath")
		if hp == nil {
			continue
		}
		name := scalar(get(v, "name"))
		p := scalar(get(hp, "path"))
		key := c.id + " volume " + name
		if SensitiveHostPath(p) {
			c.report(rHostPathSensitive, line(k, specLine), key, image,
				fmt.Sprintf("%s mounts the host's %s (volume %s).", c.id, p, name))
		} else {
			c.report(rHostPathVolume, line(k, specLine), key, image,
				fmt.Sprintf("%s mounts host path %s (volume %s).", c.id, p, name))
		}
	}
}

func (c *checker) rbac() {
	for i, r := range items(get(c.obj.Node, "rules")) {
		key := fmt.Sprintf("%s rule %d", c.id, i)
		verbs := lowerSet(stringList(get(r, "verbs")))
		resources := lowerSet(stringList(get(r, "resources")))
		groups := stringList(get(r, "apiGroups"))
		ln := line(r, c.obj.Line)

		var wild []string
		for _, f := range []struct {
			name string
			vals []string
		}{{"verbs", verbs}, {"resources", resources}, {"apiGroups", groups}} {
			if slices.Contains(f.vals, "*") {
				wild = append(wild, f.name)
			}
		}
		if len(wild) > 0 {
			msg := fmt.Sprintf("%s grants \"*\" in %s (rule %d).", c.id, strings.Join(wild, ", "), i)
			if len(wild) == 3 {
				msg = fmt.Sprintf("%s grants every verb on every resource (rule %d): cluster-admin.", c.id, i)
			}
			c.report(rRBACWildcard, ln, key, "", msg)
		}

		coreGroup := len(groups) == 0 || slices.Contains(groups, "") || slices.Contains(groups, "*")
		namedOnly := len(stringList(get(r, "resourceNames"))) > 0
		if coreGroup && !namedOnly && (slices.Contains(resources, "secrets") || slices.Contains(resources, "*")) {
			var read []string
			for _, v := range []string{"get", "list", "watch", "*"} {
				if slices.Contains(verbs, v) {
					read = append(read, v)
				}
			}
			if len(read) > 0 {
				c.report(rRBACSecrets, ln, key, "", fmt.Sprintf("%s can read secrets (verbs %s, rule %d).", c.id, strings.Join(read, ", "), i))
			}
		}

		var esc []string
		for _, v := range []string{"escalate", "bind", "impersonate"} {
			if slices.Contains(verbs, v) {
				esc = append(esc, v)
			}
		}
		if len(esc) > 0 {
			c.report(rRBACEscalate, ln, key, "", fmt.Sprintf("%s grants %s (rule %d).", c.id, strings.Join(esc, ", "), i))
		}
	}
}

func lowerSet(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, strings.ToLower(strings.TrimSpace(s)))
	}
	return out
}
