package vigil.k8s

# A string message per container without an owner label.
deny contains msg if {
	input.input_kind == "kubernetes"
	input.kind == "Deployment"
	not input.metadata.labels.owner
	msg := sprintf("%s has no owner label", [input.metadata.name])
}

# An object with an id, severity and line.
warn contains {"msg": msg, "id": "ACME-K8S-002", "severity": "high", "title": "Replicas", "line": 1} if {
	input.input_kind == "kubernetes"
	input.spec.replicas < 2
	msg := "fewer than two replicas"
}
