package main

deny_maintainer contains msg if {
	input.input_kind == "dockerfile"
	some stage in input.stages
	some ins in stage.instructions
	ins.cmd == "MAINTAINER"
	msg := sprintf("MAINTAINER is deprecated (line %d)", [ins.line])
}
