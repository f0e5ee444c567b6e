package vigil.bad

deny contains msg if {
	msg := undefined_function(input.x)
}
