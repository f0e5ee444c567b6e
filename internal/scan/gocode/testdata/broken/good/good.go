// Package good builds: it is analysed although its module has a broken
// package.
package good

import (
	"net/http"
	"os/exec"
)

// Run runs what the request names.
func Run(w http.ResponseWriter, r *http.Request) {
	_ = exec.Command(r.FormValue("cmd")).Run() // want VGL-GO-002
}
