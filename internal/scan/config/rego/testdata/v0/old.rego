package main

deny[msg] {
	input.kind == "Pod"
	msg := "old-style rule"
}
