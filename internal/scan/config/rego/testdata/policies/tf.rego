package vigil.terraform

deny contains {"msg": msg, "id": "ACME-TF-001", "remediation": "tag it"} if {
	input.input_kind == "terraform"
	some name, b in input.resource.aws_s3_bucket
	not b.tags.owner
	msg := sprintf("aws_s3_bucket.%s has no owner tag", [name])
}

helper := 1
