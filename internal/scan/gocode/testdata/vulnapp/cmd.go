package main

import (
	"net/http"
	"os/exec"
)

func cmdProgram(w http.ResponseWriter, r *http.Request) {
	_ = exec.Command(r.FormValue("prog")).Run()            // want VGL-GO-002
	_ = exec.Command("ls", "-l", r.FormValue("dir")).Run() // safe: an argument of a fixed program
}

func cmdShell(w http.ResponseWriter, r *http.Request) {
	msg := r.URL.Query().Get("msg")
	_ = exec.CommandContext(r.Context(), "sh", "-c", "echo "+msg).Run() // want VGL-GO-002
	_ = exec.CommandContext(r.Context(), "sh", "-c", "uptime").Run()    // safe
}

// runShell runs a command line through bash.
func runShell(cmdline string) error {
	return exec.Command("bash", "-c", cmdline).Run() // want VGL-GO-002
}

func cmdHelper(w http.ResponseWriter, r *http.Request) {
	_ = runShell("ping -c 1 " + r.FormValue("host"))
	_ = runShell("uptime") // safe
}

// job describes a program to run.
type job struct {
	Program string
	Args    []string
}

func cmdStruct(w http.ResponseWriter, r *http.Request) {
	j := job{Program: "convert", Args: []string{r.FormValue("file"), "out.png"}}
	_ = exec.Command(j.Program, j.Args...).Run() // safe: the program is fixed
	k := job{Program: r.FormValue("tool")}
	_ = exec.Command(k.Program, k.Args...).Run() // want VGL-GO-002
}
