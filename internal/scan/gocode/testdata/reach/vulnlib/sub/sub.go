// Package sub is not imported by app.
package sub

// Unused is vulnerable and not imported.
func Unused() {}
