// Package main needs a Go release that does not exist yet: the go command
// refuses the whole module.
package main

import "crypto/md5"

func main() {
	_ = md5.Sum(nil) // want VGL-GO-010
}
