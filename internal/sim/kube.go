package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// KubeNode is a worker node of the cluster.
type KubeNode struct {
	Name string // FQDN
	IP   netip.Addr
}

// Pod is one running replica of a workload.
type Pod struct {
	Name string
	IP   netip.Addr
	Node int // index in Cluster.Nodes
}

// Workload is a Deployment (or DaemonSet) and its pods.
type Workload struct {
	Namespace      string
	Name           string
	Kind           string // deployments, daemonsets
	Image          string
	ServiceAccount string
	Pods           []Pod
	Leader         bool    // renews a coordination lease (operators, schedulers)
	ConfigRate     float64 // configmap reads per pod and hour (lognormal across workloads)
	UA             string  // its client's User-Agent
}

// SA is the workload's service-account user name as the API server writes it.
func (w *Workload) SA() string {
	return "system:serviceaccount:" + w.Namespace + ":" + w.ServiceAccount
}

// KubeAccess is an org user's kubectl access.
type KubeAccess struct {
	User       int      // index in Org.Users
	Namespaces []string // where RoleBindings grant "edit"
	Admin      bool     // bound to cluster-admin
	UA         string   // the user's kubectl build
}

// Cluster is the organisation's Kubernetes cluster.
type Cluster struct {
	Name            string
	Server          string // the API server URL kubeconfigs name
	API             netip.Addr
	Nodes           []KubeNode
	Namespaces      []string
	ServiceAccounts map[string][]string // per namespace, "default" first
	Workloads       []Workload
	Controllers     []string // control-plane identities
	Access          []KubeAccess
	CI              *Workload // the CI runner; deploys as its service account
}

// kubeVersion is the cluster's build, as clients' User-Agents carry it.
const kubeVersion = "v1.30.4 (linux/amd64) kubernetes/a51b3b7"

var kubeNamespaces = []string{"default", "kube-system", "web", "payments", "data", "monitoring", "ci"}

// workloadSpecs is the cluster's catalogue: namespace, name, image, replicas, leader.
var workloadSpecs = []struct {
	ns, name, image string
	replicas        int
	leader          bool
}{
	{"web", "frontend", "registry.corp.example/web/frontend:2.14.3", 3, false},
	{"web", "api-gateway", "registry.corp.example/web/api-gateway:1.8.0", 2, false},
	{"payments", "payments-api", "registry.corp.example/payments/payments-api:4.2.1", 3, false},
	{"payments", "ledger-worker", "registry.corp.example/payments/ledger-worker:4.2.1", 2, false},
	{"data", "etl-scheduler", "registry.corp.example/data/etl-scheduler:0.19.2", 1, true},
	{"data", "postgres-operator", "registry.opensource.zalan.do/acid/postgres-operator:v1.12.2", 1, true},
	{"monitoring", "prometheus", "quay.io/prometheus/prometheus:v2.51.2", 1, false},
	{"monitoring", "grafana", "docker.io/grafana/grafana:10.4.2", 1, false},
	{"kube-system", "coredns", "registry.k8s.io/coredns/coredns:v1.11.1", 2, false},
	{"ci", "gitlab-runner", "registry.gitlab.com/gitlab-org/gitlab-runner:v16.11.0", 1, false},
}

// kubeHashChars is the alphabet of generated pod-name suffixes.
const kubeHashChars = "bcdfghjklmnpqrstvwxz2456789"

func kubeSuffix(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = kubeHashChars[rng.IntN(len(kubeHashChars))]
	}
	return string(b)
}

// NewCluster builds the cluster of org: nodes scale with the organisation (within
// bounds), as do replicas; developers get edit rights in a few namespaces, some IT
// admins cluster-admin.
func NewCluster(rng *rand.Rand, o *Org) *Cluster {
	n := len(o.Users)
	c := &Cluster{Name: "prod-eu1", API: netip.MustParseAddr("10.0.3.5"), Namespaces: kubeNamespaces,
		ServiceAccounts: map[string][]string{},
		Controllers:     []string{"system:kube-controller-manager", "system:kube-scheduler"}}
	c.Server = "https://" + c.API.String() + ":6443"
	nn := min(max(3, n/40), 60)
	for i := range nn {
		c.Nodes = append(c.Nodes, KubeNode{Name: fmt.Sprintf("k8s-node-%02d.%s", i+1, Domain), IP: netip.AddrFrom4([4]byte{10, 0, 3, byte(10 + i)})})
	}
	for _, ns := range kubeNamespaces {
		c.ServiceAccounts[ns] = []string{"default"}
	}
	scale := min(max(float64(n)/200, 0.5), 4)
	podsOn := make([]int, nn)
	addPod := func(w *Workload, node int) {
		podsOn[node]++
		name := w.Name + "-" + kubeSuffix(rng, 5)
		if w.Kind == "deployments" {
			name = w.Name + "-" + kubeSuffix(rng, 10) + "-" + kubeSuffix(rng, 5)
		}
		w.Pods = append(w.Pods, Pod{Name: name, IP: netip.AddrFrom4([4]byte{10, 244, byte(node), byte(1 + podsOn[node]%250)}), Node: node})
	}
	for _, s := range workloadSpecs {
		w := Workload{Namespace: s.ns, Name: s.name, Kind: "deployments", Image: s.image, ServiceAccount: s.name,
			Leader: s.leader, ConfigRate: 1.2 * math.Exp(0.8*rng.NormFloat64()),
			UA: s.name + "/v0.0.0 (linux/amd64) kubernetes/$Format"}
		switch s.name {
		case "prometheus":
			w.UA = "Prometheus/2.51.2"
		case "coredns":
			w.UA = "coredns/v1.11.1 (linux/amd64) kubernetes/ae2bbc2"
		case "gitlab-runner":
			w.ServiceAccount = "deployer"
		}
		replicas := max(1, int(math.Round(float64(s.replicas)*scale)))
		if s.leader || s.name == "gitlab-runner" || s.name == "prometheus" {
			replicas = 1
		}
		for range replicas {
			addPod(&w, rng.IntN(nn))
		}
		c.ServiceAccounts[s.ns] = append(c.ServiceAccounts[s.ns], w.ServiceAccount)
		c.Workloads = append(c.Workloads, w)
	}
	// A DaemonSet: the node exporter runs on every node, privileged-looking by
	// design (host network and PID, /proc and /sys mounted read-only).
	ne := Workload{Namespace: "monitoring", Name: "node-exporter", Kind: "daemonsets", Image: "quay.io/prometheus/node-exporter:v1.8.0",
		ServiceAccount: "node-exporter", ConfigRate: 0.2, UA: "node_exporter/1.8.0"}
	for i := range nn {
		addPod(&ne, i)
	}
	c.ServiceAccounts["monitoring"] = append(c.ServiceAccounts["monitoring"], "node-exporter")
	c.Workloads = append(c.Workloads, ne)
	for i := range c.Workloads {
		if c.Workloads[i].Name == "gitlab-runner" {
			c.CI = &c.Workloads[i]
		}
	}
	appNS := []string{"web", "payments", "data", "monitoring", "ci"}
	platforms := []string{"darwin/arm64", "linux/amd64", "windows/amd64", "darwin/amd64"}
	for i := range o.Users {
		u := &o.Users[i]
		var a KubeAccess
		switch {
		case u.Role == "developer" && rng.Float64() < 0.85:
			perm := rng.Perm(len(appNS))
			for _, k := range perm[:1+rng.IntN(3)] {
				a.Namespaces = append(a.Namespaces, appNS[k])
			}
		case u.Role == "admin" && rng.Float64() < 0.4:
			a.Admin = true
			a.Namespaces = append([]string{}, kubeNamespaces...)
		default:
			continue
		}
		a.User = i
		a.UA = "kubectl/v1.30." + strconv.Itoa(rng.IntN(5)) + " (" + platforms[rng.IntN(len(platforms))] + ") kubernetes/3968350"
		c.Access = append(c.Access, a)
	}
	return c
}

// workload returns the workload named ns/name, or nil.
func (c *Cluster) workload(ns, name string) *Workload {
	for i := range c.Workloads {
		if c.Workloads[i].Namespace == ns && c.Workloads[i].Name == name {
			return &c.Workloads[i]
		}
	}
	return nil
}

// kubeReq is one API request as the audit log records it.
type kubeReq struct {
	level    string // Metadata unless set
	verb     string
	uri      string
	user     string
	groups   []string
	pod      string // for service-account tokens bound to a pod: its name and node
	node     string
	src      netip.Addr
	ua       string
	resource string // empty for non-resource URLs (/api, /healthz)
	ns       string
	name     string
	group    string // API group, empty for the core group
	sub      string
	code     int    // HTTP status; 0 means 200
	reason   string // authorization reason annotation
	reqObj   []byte // requestObject JSON, for RequestResponse
	dur      time.Duration
}

// appendAuditUUID writes a random version-4 UUID.
func appendAuditUUID(b []byte, rng *rand.Rand) []byte {
	const hex = "0123456789abcdef"
	x, y := rng.Uint64(), rng.Uint64()
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b = append(b, '-')
		}
		var n uint64
		if i < 16 {
			n = x >> (60 - 4*i) & 15
		} else {
			n = y >> (60 - 4*(i-16)) & 15
		}
		switch i {
		case 12:
			n = 4
		case 16:
			n = 8 | n&3
		}
		b = append(b, hex[n])
	}
	return b
}

// KubeAudit writes one audit.k8s.io/v1 Event at stage ResponseComplete; t is its
// stageTimestamp (the request arrived r.dur earlier), which orders the log.
func (e *Emitter) KubeAudit(t time.Time, technique string, r *kubeReq) {
	b := e.buf[:0]
	level := r.level
	if level == "" {
		level = "Metadata"
	}
	code := r.code
	if code == 0 {
		code = 200
	}
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`...)
	b = append(b, level...)
	b = append(b, `","auditID":"`...)
	b = appendAuditUUID(b, e.rng)
	b = append(b, `","stage":"ResponseComplete","requestURI":`...)
	b = appendJSONStr(b, r.uri)
	b = append(b, `,"verb":"`...)
	b = append(b, r.verb...)
	b = append(b, `","user":{"username":`...)
	b = appendJSONStr(b, r.user)
	b = append(b, `,"groups":[`...)
	for i, g := range r.groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONStr(b, g)
	}
	b = append(b, ']')
	if r.pod != "" {
		b = append(b, `,"extra":{"authentication.kubernetes.io/node-name":[`...)
		b = appendJSONStr(b, r.node)
		b = append(b, `],"authentication.kubernetes.io/pod-name":[`...)
		b = appendJSONStr(b, r.pod)
		b = append(b, "]}"...)
	}
	b = append(b, `},"sourceIPs":["`...)
	b = r.src.AppendTo(b)
	b = append(b, `"],"userAgent":`...)
	b = appendJSONStr(b, r.ua)
	if r.resource != "" {
		b = append(b, `,"objectRef":{"resource":"`...)
		b = append(b, r.resource...)
		b = append(b, '"')
		if r.ns != "" {
			b = append(b, `,"namespace":`...)
			b = appendJSONStr(b, r.ns)
		}
		if r.name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONStr(b, r.name)
		}
		if r.group != "" {
			b = append(b, `,"apiGroup":"`...)
			b = append(b, r.group...)
			b = append(b, '"')
		}
		b = append(b, `,"apiVersion":"v1"`...) // every group used here is served at v1
		if r.sub != "" {
			b = append(b, `,"subresource":"`...)
			b = append(b, r.sub...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, `,"responseStatus":{"metadata":{}`...)
	if code >= 400 {
		b = append(b, `,"status":"Failure","message":`...)
		b = appendJSONStr(b, forbiddenMessage(r))
		b = append(b, `,"reason":"Forbidden","details":{`...)
		if r.name != "" {
			b = append(b, `"name":`...)
			b = appendJSONStr(b, r.name)
			b = append(b, ',')
		}
		b = append(b, `"kind":"`...)
		b = append(b, r.resource...)
		b = append(b, `"}`...)
	}
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, '}')
	if len(r.reqObj) > 0 {
		b = append(b, `,"requestObject":`...)
		b = append(b, r.reqObj...)
	}
	b = append(b, `,"requestReceivedTimestamp":"`...)
	b = t.Add(-r.dur).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `","stageTimestamp":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `","annotations":{"authorization.k8s.io/decision":"`...)
	if code == 403 {
		b = append(b, `forbid","authorization.k8s.io/reason":""}}`...)
	} else {
		b = append(b, `allow","authorization.k8s.io/reason":`...)
		b = appendJSONStr(b, r.reason)
		b = append(b, "}}"...)
	}
	b = append(b, '\n')
	e.buf = b
	e.Line(fK8sAudit, t, technique, b)
}

// forbiddenMessage is the API server's message for a 403.
func forbiddenMessage(r *kubeReq) string {
	what := r.resource
	if r.sub != "" {
		what += "/" + r.sub
	}
	scope := "at the cluster scope"
	if r.ns != "" {
		scope = `in the namespace "` + r.ns + `"`
	}
	pre := what + " is forbidden"
	if r.name != "" {
		pre = what + ` "` + r.name + `" is forbidden`
	}
	return pre + `: User "` + r.user + `" cannot ` + r.verb + ` resource "` + what + `" in API group "` + r.group + `" ` + scope
}

// kubeGroupsSA are a service account's groups.
func kubeGroupsSA(ns string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
}

var (
	kubeGroupsNode  = []string{"system:nodes", "system:authenticated"}
	kubeGroupsCtl   = []string{"system:authenticated"}
	kubeGroupsDev   = []string{"developers", "system:authenticated"}
	kubeGroupsAdmin = []string{"platform-admins", "system:authenticated"}
)

// resourcePath is the request path of a resource (collection when name is empty).
func resourcePath(group, ns, resource, name, sub string) string {
	p := "/api/v1"
	if group != "" {
		p = "/apis/" + group + "/v1"
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	p += "/" + resource
	if name != "" {
		p += "/" + name
		if sub != "" {
			p += "/" + sub
		}
	}
	return p
}

// kubeSource is the cluster's benign day: kubelets and control-plane components
// around the clock, workloads reading their configuration, developers using
// kubectl in working hours, CI rolling out deployments on weekdays. The audit
// policy is taken to drop the highest-rate noise (lease renewals every few
// seconds, watches, events) except for a periodic sample, as production policies do.
type kubeSource struct {
	rng *rand.Rand
	org *Org
	c   *Cluster
}

func newKubeSource(rng *rand.Rand, org *Org) Source {
	return &kubeSource{rng: rng, org: org, c: org.Kube}
}

// poissonCount draws a Poisson count (normal approximation for large means).
func poissonCount(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, rng.Float64()
	for p > l {
		k++
		p *= rng.Float64()
	}
	return k
}

// jitter is a small lognormal API latency.
func jitter(rng *rand.Rand, median time.Duration) time.Duration {
	return time.Duration(float64(median) * math.Exp(0.6*rng.NormFloat64()))
}

// Day implements Source.
func (s *kubeSource) Day(em *Emitter, day time.Time) {
	rng, c := s.rng, s.c
	wd := day.Weekday()
	weekend := wd == time.Saturday || wd == time.Sunday
	at := func(period time.Duration) []time.Time { // a periodic sample with jitter
		var ts []time.Time
		for t := day.Add(time.Duration(rng.Int64N(int64(period)))); t.Before(day.Add(24 * time.Hour)); t = t.Add(period) {
			ts = append(ts, t.Add(time.Duration(rng.Int64N(int64(20*time.Second)))))
		}
		return ts
	}
	// Kubelets report node status.
	for _, nd := range c.Nodes {
		short := nd.Name[:len(nd.Name)-len(Domain)-1]
		for _, t := range at(15 * time.Minute) {
			em.KubeAudit(t, "", &kubeReq{verb: "patch", uri: "/api/v1/nodes/" + short + "/status?timeout=10s", user: "system:node:" + short,
				groups: kubeGroupsNode, src: nd.IP, ua: "kubelet/" + kubeVersion, resource: "nodes", name: short, sub: "status", dur: jitter(rng, 6*time.Millisecond)})
		}
	}
	// Control plane: leader-election renewals and periodic resyncs.
	for _, comp := range c.Controllers {
		short := comp[len("system:"):]
		for _, t := range at(10 * time.Minute) {
			em.KubeAudit(t, "", &kubeReq{verb: "update", uri: "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/" + short + "?timeout=5s",
				user: comp, groups: kubeGroupsCtl, src: c.API, ua: short + "/" + kubeVersion + "/leader-election", resource: "leases", ns: "kube-system", name: short,
				group: "coordination.k8s.io", reason: `RBAC: allowed by ClusterRoleBinding "system:` + short + `" of ClusterRole "system:` + short + `" to User "` + comp + `"`, dur: jitter(rng, 4*time.Millisecond)})
		}
	}
	for _, t := range at(30 * time.Minute) {
		ns := c.Namespaces[rng.IntN(len(c.Namespaces))]
		em.KubeAudit(t, "", &kubeReq{verb: "list", uri: "/apis/discovery.k8s.io/v1/namespaces/" + ns + "/endpointslices?limit=500&resourceVersion=0",
			user: "system:serviceaccount:kube-system:endpointslice-controller", groups: kubeGroupsSA("kube-system"), src: c.API,
			ua: "kube-controller-manager/" + kubeVersion + "/system:serviceaccount:kube-system:endpointslice-controller", resource: "endpointslices", ns: ns,
			group: "discovery.k8s.io", reason: `RBAC: allowed by ClusterRoleBinding "system:controller:endpointslice-controller" of ClusterRole "system:controller:endpointslice-controller" to ServiceAccount "endpointslice-controller/kube-system"`, dur: jitter(rng, 8*time.Millisecond)})
	}
	// Workloads: configuration reads, leases, Prometheus's service discovery.
	for wi := range c.Workloads {
		w := &c.Workloads[wi]
		reason := `RBAC: allowed by RoleBinding "` + w.Name + `-config/` + w.Namespace + `" of Role "` + w.Name + `-config" to ServiceAccount "` + w.ServiceAccount + `/` + w.Namespace + `"`
		for _, p := range w.Pods {
			node := c.Nodes[p.Node].Name
			node = node[:len(node)-len(Domain)-1]
			for range poissonCount(rng, w.ConfigRate*24) {
				t := day.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
				cm := w.Name + "-config"
				em.KubeAudit(t, "", &kubeReq{verb: "get", uri: resourcePath("", w.Namespace, "configmaps", cm, ""), user: w.SA(), groups: kubeGroupsSA(w.Namespace),
					pod: p.Name, node: node, src: p.IP, ua: w.UA, resource: "configmaps", ns: w.Namespace, name: cm, reason: reason, dur: jitter(rng, 3*time.Millisecond)})
			}
			if w.Leader {
				for _, t := range at(5 * time.Minute) {
					em.KubeAudit(t, "", &kubeReq{verb: "update", uri: resourcePath("coordination.k8s.io", w.Namespace, "leases", w.Name+"-leader", ""), user: w.SA(), groups: kubeGroupsSA(w.Namespace),
						pod: p.Name, node: node, src: p.IP, ua: w.UA, resource: "leases", ns: w.Namespace, name: w.Name + "-leader", group: "coordination.k8s.io", reason: reason, dur: jitter(rng, 4*time.Millisecond)})
				}
			}
			if w.Name == "prometheus" {
				for _, t := range at(20 * time.Minute) {
					em.KubeAudit(t, "", &kubeReq{verb: "list", uri: "/api/v1/pods?limit=500&resourceVersion=0", user: w.SA(), groups: kubeGroupsSA(w.Namespace),
						pod: p.Name, node: node, src: p.IP, ua: w.UA, resource: "pods", reason: `RBAC: allowed by ClusterRoleBinding "prometheus" of ClusterRole "prometheus" to ServiceAccount "prometheus/monitoring"`, dur: jitter(rng, 25*time.Millisecond)})
				}
			}
		}
	}
	s.developers(em, day, weekend)
	s.deploys(em, day, weekend)
}

// developers: kubectl sessions in working hours, a heavy-tailed number of commands.
func (s *kubeSource) developers(em *Emitter, day time.Time, weekend bool) {
	rng, c := s.rng, s.c
	for _, a := range c.Access {
		u := &s.org.Users[a.User]
		p := 0.7
		if weekend {
			p = 0.04 // on call
		}
		if rng.Float64() > p {
			continue
		}
		ip := s.org.Hosts[u.Hosts[0]].IP
		groups, reason := kubeGroupsDev, ""
		if a.Admin {
			groups = kubeGroupsAdmin
			reason = `RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "platform-admins"`
		}
		local := day.Add(-time.Duration(u.Office.Offset) * time.Hour)
		on := local.Add(time.Duration((u.StartHour + 0.5*rng.NormFloat64()) * float64(time.Hour)))
		span := time.Duration((u.WorkHours + 0.5*rng.NormFloat64()) * float64(time.Hour))
		if weekend {
			span = time.Hour
		}
		cmds := min(int(math.Ceil(14*math.Exp(rng.NormFloat64()))), 300)
		t := on.Add(time.Duration(rng.Float64() * 0.2 * float64(span)))
		for range cmds {
			t = t.Add(time.Duration(rng.ExpFloat64() * float64(span) / float64(cmds+1)))
			ns := a.Namespaces[rng.IntN(len(a.Namespaces))]
			forbidden := false
			if !a.Admin && rng.Float64() < 0.03 { // the wrong context or namespace
				ns = kubeNamespaces[rng.IntN(len(kubeNamespaces))]
				forbidden = true
				for _, n := range a.Namespaces {
					forbidden = forbidden && n != ns
				}
			}
			rsn := reason
			if !a.Admin {
				rsn = `RBAC: allowed by RoleBinding "developers-edit/` + ns + `" of ClusterRole "edit" to Group "developers"`
			}
			base := kubeReq{user: u.UserID(), groups: groups, src: ip, ua: a.UA, ns: ns, reason: rsn}
			emit := func(r kubeReq) {
				if forbidden {
					r.code = 403
				}
				if r.dur == 0 {
					r.dur = jitter(rng, 12*time.Millisecond)
				}
				t = t.Add(time.Duration(50+rng.IntN(400)) * time.Millisecond)
				em.KubeAudit(t, "", &r)
			}
			if rng.Float64() < 0.15 { // discovery before a command (cache expired)
				r := base
				r.verb, r.uri, r.ns = "get", "/api?timeout=32s", ""
				emit(r)
			}
			var ws []*Workload
			for i := range c.Workloads {
				if c.Workloads[i].Namespace == ns {
					ws = append(ws, &c.Workloads[i])
				}
			}
			var w *Workload
			var pod Pod
			if len(ws) > 0 {
				w = ws[rng.IntN(len(ws))]
				pod = w.Pods[rng.IntN(len(w.Pods))]
			}
			x := rng.Float64()
			switch {
			case x < 0.35 || w == nil:
				r := base
				r.verb, r.resource, r.uri = "list", "pods", resourcePath("", ns, "pods", "", "")+"?limit=500"
				emit(r)
			case x < 0.5:
				r := base
				r.verb, r.resource, r.group, r.uri = "list", "deployments", "apps", resourcePath("apps", ns, "deployments", "", "")+"?limit=500"
				emit(r)
			case x < 0.7:
				r := base
				r.verb, r.resource, r.name, r.sub = "get", "pods", pod.Name, "log"
				r.uri = resourcePath("", ns, "pods", pod.Name, "log") + "?container=" + w.Name + "&tailLines=200"
				emit(r)
			case x < 0.82:
				r := base
				r.verb, r.resource, r.name, r.uri = "get", "pods", pod.Name, resourcePath("", ns, "pods", pod.Name, "")
				emit(r)
				r = base
				r.verb, r.resource, r.uri = "list", "events", resourcePath("", ns, "events", "", "")+"?fieldSelector=involvedObject.name%3D"+pod.Name+"&limit=500"
				emit(r)
			case x < 0.93:
				r := base
				r.verb, r.resource, r.uri = "list", "configmaps", resourcePath("", ns, "configmaps", "", "")+"?limit=500"
				if rng.Float64() < 0.5 {
					r.resource, r.uri = "services", resourcePath("", ns, "services", "", "")+"?limit=500"
				}
				emit(r)
			case x < 0.965:
				r := base
				sec := w.Name + "-tls"
				r.verb, r.resource, r.name, r.uri = "get", "secrets", sec, resourcePath("", ns, "secrets", sec, "")
				emit(r)
			case x < 0.985: // debugging inside a container
				r := base
				r.verb, r.resource, r.name, r.sub = "create", "pods", pod.Name, "exec"
				r.uri = resourcePath("", ns, "pods", pod.Name, "exec") + "?command=sh&container=" + w.Name + "&stdin=true&stdout=true&tty=true"
				r.code, r.dur = 101, time.Duration(20+rng.IntN(600))*time.Second
				if forbidden {
					r.code = 403
					r.dur = 0
				}
				t = t.Add(r.dur)
				emit(r)
			default:
				r := base
				r.verb, r.uri = "list", "/api/v1/pods?limit=500"
				r.resource, r.ns = "pods", ""
				if a.Admin {
					r.uri, r.resource = "/api/v1/nodes?limit=500", "nodes"
				} else {
					r.code = 403
				}
				emit(r)
			}
		}
	}
}

// deploys: CI rolls out a few deployments per weekday (rarely at weekends).
func (s *kubeSource) deploys(em *Emitter, day time.Time, weekend bool) {
	rng, c := s.rng, s.c
	ci := c.CI
	if ci == nil {
		return
	}
	mean := 4.5
	if weekend {
		mean = 0.3
	}
	runner := ci.Pods[0]
	node := c.Nodes[runner.Node].Name
	node = node[:len(node)-len(Domain)-1]
	for range poissonCount(rng, mean) {
		// Office hours in Europe, when the pipelines' merges happen.
		t := day.Add(time.Duration((8 + 9*rng.Float64()) * float64(time.Hour)))
		w := &c.Workloads[rng.IntN(len(c.Workloads))]
		if w == ci || w.Namespace == "kube-system" {
			continue
		}
		group := "apps"
		base := kubeReq{user: ci.SA(), groups: kubeGroupsSA(ci.Namespace), pod: runner.Name, node: node, src: runner.IP,
			ua: "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350", resource: w.Kind, ns: w.Namespace, name: w.Name, group: group,
			reason: `RBAC: allowed by ClusterRoleBinding "ci-deployer" of ClusterRole "deployer" to ServiceAccount "deployer/ci"`}
		r := base
		r.verb, r.uri, r.dur = "get", resourcePath(group, w.Namespace, w.Kind, w.Name, ""), jitter(rng, 5*time.Millisecond)
		em.KubeAudit(t, "", &r)
		t = t.Add(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		r = base
		r.verb, r.uri, r.dur = "patch", resourcePath(group, w.Namespace, w.Kind, w.Name, "")+"?fieldManager=kubectl-set", jitter(rng, 15*time.Millisecond)
		em.KubeAudit(t, "", &r)
		// The controller reacts.
		ctl := "deployment-controller"
		if w.Kind == "daemonsets" {
			ctl = "daemon-set-controller"
		}
		sa := "system:serviceaccount:kube-system:" + ctl
		creason := `RBAC: allowed by ClusterRoleBinding "system:controller:` + ctl + `" of ClusterRole "system:controller:` + ctl + `" to ServiceAccount "` + ctl + `/kube-system"`
		t = t.Add(time.Duration(20+rng.IntN(200)) * time.Millisecond)
		em.KubeAudit(t, "", &kubeReq{verb: "update", uri: resourcePath(group, w.Namespace, w.Kind, w.Name, "status"), user: sa, groups: kubeGroupsSA("kube-system"),
			src: c.API, ua: "kube-controller-manager/" + kubeVersion + "/system:serviceaccount:kube-system:" + ctl, resource: w.Kind, ns: w.Namespace, name: w.Name,
			group: group, sub: "status", reason: creason, dur: jitter(rng, 6*time.Millisecond)})
		if w.Kind == "daemonsets" {
			// New node-exporter pods: host namespaces and read-only host paths,
			// logged at RequestResponse like every pod creation.
			for i, p := range w.Pods {
				nd := c.Nodes[i%len(c.Nodes)].Name
				nd = nd[:len(nd)-len(Domain)-1]
				t = t.Add(time.Duration(100+rng.IntN(900)) * time.Millisecond)
				obj := nodeExporterPod(w, p.Name, nd)
				em.KubeAudit(t, "", &kubeReq{level: "RequestResponse", verb: "create", uri: resourcePath("", w.Namespace, "pods", "", ""), user: sa, groups: kubeGroupsSA("kube-system"),
					src: c.API, ua: "kube-controller-manager/" + kubeVersion + "/system:serviceaccount:kube-system:" + ctl, resource: "pods", ns: w.Namespace,
					code: 201, reason: creason, reqObj: obj, dur: jitter(rng, 12*time.Millisecond)})
			}
		} else {
			t = t.Add(time.Duration(20+rng.IntN(200)) * time.Millisecond)
			rs := w.Name + "-" + kubeSuffix(rng, 10)
			em.KubeAudit(t, "", &kubeReq{verb: "create", uri: resourcePath(group, w.Namespace, "replicasets", "", ""), user: sa, groups: kubeGroupsSA("kube-system"),
				src: c.API, ua: "kube-controller-manager/" + kubeVersion + "/system:serviceaccount:kube-system:" + ctl, resource: "replicasets", ns: w.Namespace, name: rs,
				group: group, code: 201, reason: creason, dur: jitter(rng, 9*time.Millisecond)})
		}
	}
}

// nodeExporterPod is the node exporter's pod as its DaemonSet creates it.
func nodeExporterPod(w *Workload, name, node string) []byte {
	return []byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"` + name + `","generateName":"node-exporter-","namespace":"` + w.Namespace +
		`","labels":{"app.kubernetes.io/name":"node-exporter"}},"spec":{"volumes":[{"name":"proc","hostPath":{"path":"/proc","type":""}},{"name":"sys","hostPath":{"path":"/sys","type":""}}],` +
		`"containers":[{"name":"node-exporter","image":"` + w.Image + `","args":["--path.procfs=/host/proc","--path.sysfs=/host/sys"],` +
		`"volumeMounts":[{"name":"proc","readOnly":true,"mountPath":"/host/proc"},{"name":"sys","readOnly":true,"mountPath":"/host/sys"}],` +
		`"securityContext":{"runAsNonRoot":true,"runAsUser":65534}}],"serviceAccountName":"node-exporter","nodeName":"` + node + `","hostNetwork":true,"hostPID":true}}`)
}

// KubeCampaign: a web workload's service-account token, stolen from its pod, is
// used from outside the cluster (curl, then an unusual kubectl): discovery, secrets
// read cluster-wide, a token minted for the CI deployer, an exec into a payments
// pod, then a privileged pod mounting the node's root file system and an exec into
// it to escape to the node, and the pod's deletion.
type KubeCampaign struct {
	id string
	schedule
	attacker netip.Addr
	victim   *Workload // whose token was stolen
	pod      Pod
	ci       *Workload
	target   *Workload // exec'd into
	evil     string    // the privileged pod
	node     KubeNode
}

// NewKubeCampaign returns the campaign with the given id.
func NewKubeCampaign(id string) *KubeCampaign { return &KubeCampaign{id: id} }

// ID implements Campaign.
func (c *KubeCampaign) ID() string { return c.id }

// Plan implements Campaign.
func (c *KubeCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	k := org.Kube
	c.victim = k.workload("web", "frontend")
	c.target = k.workload("payments", "payments-api")
	c.ci = k.CI
	c.pod = c.victim.Pods[rng.IntN(len(c.victim.Pods))]
	c.attacker = netip.AddrFrom4([4]byte{185, 220, 101, byte(2 + rng.IntN(250))})
	c.node = k.Nodes[rng.IntN(len(k.Nodes))]
	node := c.node.Name[:len(c.node.Name)-len(Domain)-1]
	c.evil = "kube-proxy-debug-" + kubeSuffix(rng, 5)
	bound := k.Nodes[c.pod.Node].Name
	bound = bound[:len(bound)-len(Domain)-1]
	curl, kubectl := "curl/8.5.0", "kubectl/v1.28.4 (linux/amd64) kubernetes/bae2c62"
	reason := `RBAC: allowed by ClusterRoleBinding "frontend-ops" of ClusterRole "ops-tooling" to ServiceAccount "frontend/web"`
	stolen := func(verb, uri, resource, ns, name, group, sub, ua string, code int) func(em *Emitter, t time.Time, tech string) {
		return func(em *Emitter, t time.Time, tech string) {
			em.KubeAudit(t, tech, &kubeReq{verb: verb, uri: uri, user: c.victim.SA(), groups: kubeGroupsSA(c.victim.Namespace), pod: c.pod.Name, node: bound,
				src: c.attacker, ua: ua, resource: resource, ns: ns, name: name, group: group, sub: sub, code: code, reason: reason, dur: jitter(em.rng, 30*time.Millisecond)})
		}
	}
	t := within(rng, from, to, 0.5)
	step := func(lo, hi int) { t = t.Add(time.Duration(lo+rng.IntN(hi-lo+1)) * time.Second) }
	// 1. Discovery with the stolen token: what can it do, what runs where.
	c.at(t, "T1613", stolen("list", "/api/v1/namespaces/web/pods", "pods", "web", "", "", "", curl, 0))
	step(20, 90)
	c.at(t, "T1613", stolen("create", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "selfsubjectrulesreviews", "", "", "authorization.k8s.io", "", curl, 201))
	step(120, 600)
	c.at(t, "T1613", stolen("list", "/api/v1/namespaces?limit=500", "namespaces", "", "", "", "", kubectl, 0))
	step(5, 30)
	c.at(t, "T1613", stolen("list", "/api/v1/pods?limit=500", "pods", "", "", "", "", kubectl, 0))
	step(5, 30)
	c.at(t, "T1613", stolen("list", "/api/v1/nodes?limit=500", "nodes", "", "", "", "", kubectl, 403))
	// 2. Secrets, cluster-wide, then the interesting ones.
	step(180, 600)
	c.at(t, "T1552.007", stolen("list", "/api/v1/secrets?limit=500", "secrets", "", "", "", "", kubectl, 0))
	for _, s := range [][2]string{{"payments", "payments-db-credentials"}, {"payments", "stripe-api-key"}, {"data", "warehouse-s3-credentials"}} {
		step(10, 60)
		c.at(t, "T1552.007", stolen("get", resourcePath("", s[0], "secrets", s[1], ""), "secrets", s[0], s[1], "", "", kubectl, 0))
	}
	// 3. A token for the CI deployer, which may create pods anywhere.
	step(120, 900)
	c.at(t, "T1528", stolen("create", resourcePath("", "ci", "serviceaccounts", c.ci.ServiceAccount, "token"), "serviceaccounts", "ci", c.ci.ServiceAccount, "", "token", kubectl, 201))
	// 4. Exec into a payments pod.
	step(300, 1200)
	tp := c.target.Pods[rng.IntN(len(c.target.Pods))]
	execURI := resourcePath("", c.target.Namespace, "pods", tp.Name, "exec") + "?command=sh&command=-c&command=env%3B+cat+%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=" + c.target.Name + "&stdout=true&stderr=true"
	c.at(t, "T1609", func(em *Emitter, t time.Time, tech string) {
		em.KubeAudit(t, tech, &kubeReq{verb: "create", uri: execURI, user: c.victim.SA(), groups: kubeGroupsSA(c.victim.Namespace), pod: c.pod.Name, node: bound,
			src: c.attacker, ua: kubectl, resource: "pods", ns: c.target.Namespace, name: tp.Name, sub: "exec", code: 101, reason: reason, dur: 3 * time.Second})
	})
	// 5. A privileged pod on a chosen node with its root file system mounted, as the deployer.
	step(600, 1800)
	ciReason := `RBAC: allowed by ClusterRoleBinding "ci-deployer" of ClusterRole "deployer" to ServiceAccount "deployer/ci"`
	asCI := func(r kubeReq) func(em *Emitter, t time.Time, tech string) {
		return func(em *Emitter, t time.Time, tech string) {
			r.user, r.groups, r.src, r.ua, r.reason = c.ci.SA(), kubeGroupsSA(c.ci.Namespace), c.attacker, kubectl, ciReason
			r.dur = jitter(em.rng, 40*time.Millisecond)
			em.KubeAudit(t, tech, &r)
		}
	}
	obj := []byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"` + c.evil + `","namespace":"kube-system","creationTimestamp":null},"spec":{"volumes":[{"name":"host","hostPath":{"path":"/","type":""}}],` +
		`"containers":[{"name":"debug","image":"docker.io/library/alpine:3.19","command":["sleep","infinity"],"resources":{},"volumeMounts":[{"name":"host","mountPath":"/host"}],` +
		`"securityContext":{"privileged":true}}],"restartPolicy":"Never","nodeName":"` + node + `","hostNetwork":true,"hostPID":true,"hostIPC":true,"tolerations":[{"operator":"Exists"}]},"status":{}}`)
	c.at(t, "T1610", asCI(kubeReq{level: "RequestResponse", verb: "create", uri: "/api/v1/namespaces/kube-system/pods?fieldManager=kubectl-create&fieldValidation=Strict",
		resource: "pods", ns: "kube-system", code: 201, reqObj: obj}))
	step(10, 40)
	c.at(t, "T1610", asCI(kubeReq{verb: "get", uri: resourcePath("", "kube-system", "pods", c.evil, ""), resource: "pods", ns: "kube-system", name: c.evil}))
	step(30, 120)
	c.at(t, "T1611", asCI(kubeReq{verb: "create", uri: resourcePath("", "kube-system", "pods", c.evil, "exec") + "?command=chroot&command=%2Fhost&command=bash&container=debug&stdin=true&stdout=true&tty=true",
		resource: "pods", ns: "kube-system", name: c.evil, sub: "exec", code: 101}))
	// 6. Removing the pod.
	step(1200, 2400)
	c.at(t, "T1070", asCI(kubeReq{verb: "delete", uri: resourcePath("", "kube-system", "pods", c.evil, ""), resource: "pods", ns: "kube-system", name: c.evil}))
}

// Emit implements Campaign.
func (c *KubeCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *KubeCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	return TruthCampaign{ID: c.id, Name: "stolen service-account token to node escape", Start: a, End: b, Techniques: techs,
		Entities: []TruthEntity{
			{Kind: "user", Value: c.victim.SA()}, {Kind: "user", Value: c.ci.SA()},
			{Kind: "workload", Value: c.victim.Namespace + "/" + c.victim.Name}, {Kind: "workload", Value: c.target.Namespace + "/" + c.target.Name},
			{Kind: "workload", Value: "kube-system/" + c.evil},
			{Kind: "host", Value: c.node.Name, Aliases: []string{c.node.IP.String()}}, ipEntity(c.attacker)}}
}
