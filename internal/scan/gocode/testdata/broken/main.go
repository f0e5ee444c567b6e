// Package main does not build: the scanner reports a problem and still
// checks the syntax.
package main

import (
	"crypto/md5"
	"fmt"
)

func main() {
	var n int = "not a number"
	fmt.Println(md5.Sum([]byte("x")), n) // want VGL-GO-010
}
