package k8s

import (
	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/rule"
)

// References. CIS section numbers are those of the CIS Kubernetes Benchmark
// v1.10.0 (section 5, Policies); the NSA/CISA guide is the Kubernetes
// Hardening Guide v1.2 (August 2022); Pod Security Standards levels are
// Kubernetes' (Baseline forbids known privilege escalations, Restricted
// adds hardening best practice).
const (
	cis        = "CIS Kubernetes Benchmark v1.10.0 "
	nsaPod     = "NSA/CISA Kubernetes Hardening Guide v1.2: Kubernetes Pod security"
	nsaNonRoot = "NSA/CISA Kubernetes Hardening Guide v1.2: Non-root containers"
	nsaImmut   = "NSA/CISA Kubernetes Hardening Guide v1.2: Immutable container file systems"
	nsaImages  = "NSA/CISA Kubernetes Hardening Guide v1.2: Building secure container images"
	nsaToken   = "NSA/CISA Kubernetes Hardening Guide v1.2: Protecting Pod service account tokens" //nolint:gosec // G101: a document title, not a credential
	nsaHarden  = "NSA/CISA Kubernetes Hardening Guide v1.2: Hardening container environments (seccomp)"
	nsaRes     = "NSA/CISA Kubernetes Hardening Guide v1.2: Resource policies"
	nsaRBAC    = "NSA/CISA Kubernetes Hardening Guide v1.2: Authentication and authorization (RBAC)"
	nsaSecrets = "NSA/CISA Kubernetes Hardening Guide v1.2: Secrets" //nolint:gosec // G101: a document title, not a credential
	pssBase    = "Pod Security Standards: Baseline"
	pssRestr   = "Pod Security Standards: Restricted"
	pssURL     = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
)

// The built-in Kubernetes checks. Ids are stable: a retired check's id is
// not reused.
var (
	rPrivileged = rule.Rule{ID: "VGL-K8S-001", Severity: scan.SeverityCritical,
		Title:       "Privileged container",
		Remediation: "Remove securityContext.privileged (or set it to false); grant only the capabilities the container needs.",
		References:  []string{cis + "5.2.2", nsaPod, pssBase, pssURL}}
	rEscalationAllowed = rule.Rule{ID: "VGL-K8S-002", Severity: scan.SeverityHigh,
		Title:       "Privilege escalation explicitly allowed",
		Remediation: "Set securityContext.allowPrivilegeEscalation to false.",
		References:  []string{cis + "5.2.6", nsaPod, pssRestr, pssURL}}
	rEscalationNotDisabled = rule.Rule{ID: "VGL-K8S-003", Severity: scan.SeverityLow,
		Title:       "Privilege escalation not disabled",
		Remediation: "Set securityContext.allowPrivilegeEscalation to false (setuid binaries can otherwise gain privileges).",
		References:  []string{cis + "5.2.6", nsaPod, pssRestr, pssURL}}
	rRunAsRootUser = rule.Rule{ID: "VGL-K8S-004", Severity: scan.SeverityHigh,
		Title:       "Container runs as UID 0",
		Remediation: "Set securityContext.runAsUser to a non-zero UID (and runAsNonRoot: true).",
		References:  []string{cis + "5.2.7", nsaNonRoot, pssRestr, pssURL}}
	rRunAsNonRootUnset = rule.Rule{ID: "VGL-K8S-005", Severity: scan.SeverityMedium,
		Title:       "Container may run as root",
		Remediation: "Set securityContext.runAsNonRoot: true (pod or container level) or a non-zero runAsUser.",
		References:  []string{cis + "5.2.7", nsaNonRoot, pssRestr, pssURL}}
	rHostPathVolume = rule.Rule{ID: "VGL-K8S-006", Severity: scan.SeverityMedium,
		Title:       "hostPath volume",
		Remediation: "Use a persistentVolumeClaim, configMap, secret or emptyDir instead of a hostPath volume; if unavoidable, mount it readOnly and as narrow as possible.",
		References:  []string{cis + "5.2.12", nsaPod, pssBase, pssURL}}
	rHostPathSensitive = rule.Rule{ID: "VGL-K8S-007", Severity: scan.SeverityCritical,
		Title:       "hostPath volume of a sensitive host path",
		Remediation: "Do not mount the host's root, /etc, /var/run, kubelet or runtime sockets into a pod: each gives control of the node.",
		References:  []string{cis + "5.2.12", nsaPod, pssBase, pssURL}}
	rHostNetwork = rule.Rule{ID: "VGL-K8S-008", Severity: scan.SeverityHigh,
		Title:       "Pod shares the host network namespace",
		Remediation: "Remove hostNetwork: true; expose the pod through a Service.",
		References:  []string{cis + "5.2.5", nsaPod, pssBase, pssURL}}
	rHostPID = rule.Rule{ID: "VGL-K8S-009", Severity: scan.SeverityHigh,
		Title:       "Pod shares the host process namespace",
		Remediation: "Remove hostPID: true.",
		References:  []string{cis + "5.2.3", nsaPod, pssBase, pssURL}}
	rHostIPC = rule.Rule{ID: "VGL-K8S-010", Severity: scan.SeverityHigh,
		Title:       "Pod shares the host IPC namespace",
		Remediation: "Remove hostIPC: true.",
		References:  []string{cis + "5.2.4", nsaPod, pssBase, pssURL}}
	rDangerousCapability = rule.Rule{ID: "VGL-K8S-011", Severity: scan.SeverityHigh,
		Title:       "Dangerous capability added",
		Remediation: "Remove the capability from securityContext.capabilities.add; drop ALL and add back only what the container needs (NET_BIND_SERVICE).",
		References:  []string{cis + "5.2.8", cis + "5.2.9", nsaPod, pssBase, pssURL}}
	rCapabilitiesNotDropped = rule.Rule{ID: "VGL-K8S-012", Severity: scan.SeverityLow,
		Title:       "Capabilities not dropped",
		Remediation: "Set securityContext.capabilities.drop: [ALL] and add back only what the container needs.",
		References:  []string{cis + "5.2.10", nsaPod, pssRestr, pssURL}}
	rNoResourceLimits = rule.Rule{ID: "VGL-K8S-013", Severity: scan.SeverityLow,
		Title:       "No CPU or memory limit",
		Remediation: "Set resources.limits.cpu and resources.limits.memory (or a LimitRange in the namespace).",
		References:  []string{nsaRes}}
	rMutableImageTag = rule.Rule{ID: "VGL-K8S-014", Severity: scan.SeverityMedium,
		Title:       "Image without a pinned tag",
		Remediation: "Use a specific version tag, or better a digest (image@sha256:...), instead of latest or no tag.",
		References:  []string{nsaImages}}
	rSecretInEnv = rule.Rule{ID: "VGL-K8S-015", Severity: scan.SeverityHigh,
		Title:       "Secret as a literal environment value",
		Remediation: "Move the value into a Secret and reference it with valueFrom.secretKeyRef, or better mount it as a file.",
		References:  []string{cis + "5.4.1", nsaSecrets, "CWE-798"}}
	rWritableRootFS = rule.Rule{ID: "VGL-K8S-016", Severity: scan.SeverityLow,
		Title:       "Root filesystem is writable",
		Remediation: "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the container writes.",
		References:  []string{nsaImmut}}
	rNoSeccomp = rule.Rule{ID: "VGL-K8S-017", Severity: scan.SeverityLow,
		Title:       "No seccomp profile",
		Remediation: "Set securityContext.seccompProfile.type: RuntimeDefault at pod level (or Localhost with a profile).",
		References:  []string{cis + "5.7.2", nsaHarden, pssRestr, pssURL}}
	rSeccompUnconfined = rule.Rule{ID: "VGL-K8S-018", Severity: scan.SeverityMedium,
		Title:       "Seccomp explicitly unconfined",
		Remediation: "Use seccompProfile.type: RuntimeDefault (or Localhost) instead of Unconfined.",
		References:  []string{cis + "5.7.2", nsaHarden, pssBase, pssURL}}
	rServiceAccountToken = rule.Rule{ID: "VGL-K8S-019", Severity: scan.SeverityLow,
		Title:       "Service account token mounted",
		Remediation: "Set automountServiceAccountToken: false in the pod spec unless the pod calls the Kubernetes API.",
		References:  []string{cis + "5.1.6", nsaToken}}
	rHostPort = rule.Rule{ID: "VGL-K8S-020", Severity: scan.SeverityMedium,
		Title:       "Container binds a host port",
		Remediation: "Remove hostPort; expose the container through a Service (NodePort or LoadBalancer if it must be reachable from outside).",
		References:  []string{cis + "5.2.13", nsaPod, pssBase, pssURL}}
	rRBACWildcard = rule.Rule{ID: "VGL-K8S-021", Severity: scan.SeverityHigh,
		Title:       "RBAC rule with wildcards",
		Remediation: "List the verbs, resources and API groups the subject needs instead of \"*\".",
		References:  []string{cis + "5.1.3", nsaRBAC}}
	rRBACSecrets = rule.Rule{ID: "VGL-K8S-022", Severity: scan.SeverityHigh,
		Title:       "RBAC rule reads secrets",
		Remediation: "Remove get, list and watch on secrets, or restrict them to the named secrets the subject needs (resourceNames).",
		References:  []string{cis + "5.1.2", nsaRBAC}}
	rRBACEscalate = rule.Rule{ID: "VGL-K8S-023", Severity: scan.SeverityHigh,
		Title:       "RBAC rule grants escalate, bind or impersonate",
		Remediation: "Remove the escalate, bind and impersonate verbs: each lets the subject gain permissions it does not have.",
		References:  []string{cis + "5.1.8", nsaRBAC}}
)

// Rules are the Kubernetes checks, in id order.
func Rules() []rule.Rule {
	return []rule.Rule{rPrivileged, rEscalationAllowed, rEscalationNotDisabled, rRunAsRootUser, rRunAsNonRootUnset,
		rHostPathVolume, rHostPathSensitive, rHostNetwork, rHostPID, rHostIPC, rDangerousCapability,
		rCapabilitiesNotDropped, rNoResourceLimits, rMutableImageTag, rSecretInEnv, rWritableRootFS, rNoSeccomp,
		rSeccompUnconfined, rServiceAccountToken, rHostPort, rRBACWildcard, rRBACSecrets, rRBACEscalate}
}

// PrivilegeRules are the checks for privileges a pod is granted (as opposed
// to hardening it lacks): BishopFox's nothing-allowed pods get none of them.
func PrivilegeRules() []rule.Rule {
	return []rule.Rule{rPrivileged, rEscalationAllowed, rRunAsRootUser, rHostPathVolume, rHostPathSensitive,
		rHostNetwork, rHostPID, rHostIPC, rDangerousCapability, rHostPort}
}
