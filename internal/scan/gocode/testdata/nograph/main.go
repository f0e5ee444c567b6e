// Package main's module graph cannot be built (a requirement whose go.mod
// is not known): go list fails for the whole module.
package main

import "crypto/sha1"

func main() {
	_ = sha1.New() // want VGL-GO-010
}
