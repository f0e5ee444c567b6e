# Example organisation policies over the three kinds of documents.
package vigil.acme

# Every workload says who owns it.
deny contains {"msg": msg, "id": "ACME-001", "severity": "low", "title": "Workload without an owner label"} if {
	input.input_kind == "kubernetes"
	input.kind in {"Deployment", "StatefulSet", "DaemonSet"}
	not input.metadata.labels.owner
	msg := sprintf("%s/%s has no owner label", [input.kind, input.metadata.name])
}

# Images come from the organisation's registry.
deny contains {"msg": msg, "id": "ACME-002", "severity": "high", "line": stage.line} if {
	input.input_kind == "dockerfile"
	some stage in input.stages
	stage.from_stage == ""
	not stage.from in {"", "scratch"}
	not contains(stage.from, "$")
	not startswith(stage.from, "registry.example.com/")
	msg := sprintf("base image %s is not from registry.example.com", [stage.from])
}

# Buckets are tagged.
warn contains {"msg": msg, "resource": sprintf("aws_s3_bucket.%s", [name])} if {
	input.input_kind == "terraform"
	some name, b in input.resource.aws_s3_bucket
	not b.tags
	msg := sprintf("aws_s3_bucket.%s has no tags", [name])
}
