package k8saudit

import (
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Derived raw fields for SigmaHQ's kubernetes audit rules.
var (
	keyHostPath     = event.MakeKey("hostPath")
	keyCapabilities = event.MakeKey("capabilities")
)

// podSpecs are the places a pod spec sits in the requestObject of the objects that
// carry one: Pod, the workloads' pod templates, and CronJob's job template.
var podSpecs = [...]string{
	"requestObject.spec.",
	"requestObject.spec.template.spec.",
	"requestObject.spec.jobTemplate.spec.template.spec.",
}

var (
	hostPathKeys = func() (ks []event.Key) {
		for _, p := range podSpecs {
			ks = append(ks, event.MakeKey(p+"volumes.hostPath.path"))
		}
		return ks
	}()
	capabilityKeys = func() (ks []event.Key) {
		for _, p := range podSpecs {
			for _, c := range [...]string{"containers", "initContainers", "ephemeralContainers"} {
				ks = append(ks, event.MakeKey(p+c+".securityContext.capabilities.add"))
			}
		}
		return ks
	}()
)

// addDerived adds the hostPath and capabilities aliases of pod spec fields.
func addDerived(e *event.Event) {
	n := len(e.Raw)
	for i := 0; i < n; i++ {
		k := e.Raw[i].Key
		switch {
		case hasKey(hostPathKeys, k):
			e.AddRaw(keyHostPath, e.Raw[i].Value)
		case hasKey(capabilityKeys, k):
			e.AddRaw(keyCapabilities, e.Raw[i].Value)
		}
	}
}

func hasKey(ks []event.Key, k event.Key) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// normalize fills the ECS core from the audit event v.
func (d *Decoder) normalize(e *event.Event) {
	top := &d.top
	e.SetStr(event.EventKind, "event")
	e.SetStr(event.EventModule, "kubernetes")
	e.SetStr(event.EventDataset, "kubernetes.audit")
	e.SetStr(event.EventProvider, "kube-apiserver")
	e.SetStr(event.OrchestratorType, "kubernetes")

	verb := d.str(top.verb)
	e.SetStr(event.EventAction, verb)
	e.SetStr(event.EventID, d.str(top.auditID))
	e.SetStr(event.LogLevel, d.str(top.level))
	e.SetStr(event.URLOriginal, d.str(top.requestURI))
	e.SetStr(event.UserAgentOriginal, d.str(top.userAgent))

	var resource, group string
	if ref := top.objectRef; ref != nil {
		resource, group = d.str(ref, "resource"), d.str(ref, "apiGroup")
		e.SetStr(event.OrchestratorNamespace, d.str(ref, "namespace"))
		e.SetStr(event.OrchestratorResourceType, resource)
		e.SetStr(event.OrchestratorResourceName, d.str(ref, "name"))
		e.SetStr(event.OrchestratorResourceSubresource, d.str(ref, "subresource"))
		if ver := ref.GetStringBytes("apiVersion"); len(ver) > 0 {
			if group != "" {
				d.tmp = append(append(append(d.tmp[:0], group...), '/'), ver...)
				e.SetStr(event.OrchestratorAPIVersion, d.fl.Arena.String(d.tmp))
			} else {
				e.SetStr(event.OrchestratorAPIVersion, d.fl.Arena.String(ver))
			}
		}
	}

	if u := top.user; u != nil {
		e.SetUser(event.ParseUser(d.str(u, "username")))
		e.SetStr(event.UserID, d.str(u, "uid"))
	}
	if u := event.ParseUser(d.str(top.impersonatedUser, "username")); u.Name != "" {
		e.SetStr(event.UserEffectiveName, u.Name)
		e.AddRelatedUser(u.Key())
	}

	var ips []*fastjson.Value
	if top.sourceIPs != nil {
		ips, _ = top.sourceIPs.Array()
	}
	for i, ipv := range ips {
		b, _ := ipv.StringBytes()
		s := d.fl.Arena.String(b)
		ip := event.ParseIP(s)
		if i == 0 {
			e.SetStr(event.SourceAddress, s)
			e.SetIP(event.SourceIP, ip)
			continue
		}
		e.AddRelatedIP(ip)
	}

	code, hasCode := 0, false
	if st := top.responseStatus; st != nil {
		if c := st.Get("code"); c != nil {
			if n, err := c.Int(); err == nil {
				code, hasCode = n, true
			}
		}
		if hasCode && code >= 400 {
			e.SetStr(event.ErrorMessage, d.str(st, "message"))
		}
	}
	switch {
	case !hasCode:
		e.SetStr(event.EventOutcome, "unknown")
	case code < 400:
		e.SetStr(event.EventOutcome, "success")
	default:
		e.SetStr(event.EventOutcome, "failure")
	}
	if hasCode {
		e.SetNum(event.HTTPResponseStatusCode, int64(code))
	}

	var decision []byte
	if a := top.annotations; a != nil {
		decision = a.GetStringBytes("authorization.k8s.io/decision")
		e.SetStr(event.EventReason, d.str(a, "authorization.k8s.io/reason"))
	}
	e.Category, e.Type = classify(verb, resource, group, code, string(decision))
}

// str returns the string at the key path in v, arena-backed; "" when v or the field
// is absent. Numbers are formatted.
func (d *Decoder) str(v *fastjson.Value, keys ...string) string {
	if v == nil {
		return ""
	}
	c := v.Get(keys...)
	if c == nil {
		return ""
	}
	switch c.Type() {
	case fastjson.TypeString:
		b, _ := c.StringBytes()
		if len(b) > maxValue {
			b = decode.ClipUTF8(b, maxValue)
		}
		return d.fl.Arena.String(b)
	case fastjson.TypeNumber:
		return strconv.FormatFloat(c.GetFloat64(), 'f', -1, 64)
	}
	return ""
}

// classify derives event.category and event.type; see the package comment.
func classify(verb, resource, group string, code int, decision string) (event.Category, event.Type) {
	c := event.CatAPI
	var t event.Type
	iam := false
	switch {
	case group == "rbac.authorization.k8s.io", group == "authorization.k8s.io",
		group == "" && resource == "serviceaccounts",
		group == "certificates.k8s.io" && resource == "certificatesigningrequests":
		iam = true
	case group == "authentication.k8s.io":
		c |= event.CatAuthentication
	}
	if iam {
		c |= event.CatIAM
	}
	switch verb {
	case "create", "post":
		t |= event.TypeCreation
	case "update", "patch", "put":
		t |= event.TypeChange
	case "delete", "deletecollection":
		t |= event.TypeDeletion
	case "get", "list", "watch", "head":
		t |= event.TypeAccess
		if iam {
			t |= event.TypeInfo
		}
	default:
		t |= event.TypeInfo
	}
	switch {
	case code == 401:
		c |= event.CatAuthentication
		t |= event.TypeDenied
	case code == 403 || decision == "forbid":
		t |= event.TypeDenied
	case decision == "allow":
		t |= event.TypeAllowed
	}
	return c, t
}
