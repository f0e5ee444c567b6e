package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

const baseDir = "/srv/files"

var validName = regexp.MustCompile(`^[\w.\-/]+$`)

func pathDirect(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("file")
	data, _ := os.ReadFile(name) // want VGL-GO-003
	_, _ = w.Write(data)
	data, _ = os.ReadFile(filepath.Join(baseDir, filepath.Base(name))) // safe: Base
	_, _ = w.Write(data)
	http.ServeFile(w, r, r.URL.Path[1:])      // want VGL-GO-003
	http.ServeFile(w, r, "static/index.html") // safe
}

func pathJoin(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("name")
	f, err := os.Open(filepath.Join(baseDir, name)) // want VGL-GO-003
	if err == nil {
		_ = f.Close()
	}
	p := filepath.Join(baseDir, name)
	if !strings.HasPrefix(p, baseDir+string(filepath.Separator)) {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	f, err = os.Open(p) // safe: Join cleans, then the prefix is checked
	if err == nil {
		_ = f.Close()
	}
}

func pathGuards(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("name")
	raw := baseDir + "/" + name
	if strings.HasPrefix(raw, baseDir) {
		_ = os.Remove(raw) // want VGL-GO-003
	}
	if validName.MatchString(name) {
		_ = os.RemoveAll(filepath.Join(baseDir, name)) // want VGL-GO-003
	}
	p := filepath.Join(baseDir, name)
	rel, err := filepath.Rel(baseDir, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return
	}
	_ = os.Remove(p) // safe: Rel checked
	if filepath.IsLocal(name) {
		_ = os.Mkdir(filepath.Join(baseDir, name), 0o750) // safe: IsLocal checked
	}
}

// readUpload reads a file of an upload directory.
func readUpload(dir, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, name)) // want VGL-GO-003
}

func pathHelper(w http.ResponseWriter, r *http.Request) {
	data, _ := readUpload("/uploads", r.FormValue("f"))
	_, _ = w.Write(data)
	data, _ = readUpload("/uploads", "default.png") // safe
	_, _ = w.Write(data)
}

// upload is where an upload goes.
type upload struct {
	Dir  string
	Name string
}

func (u *upload) save(data []byte) error {
	if err := os.MkdirAll(u.Dir, 0o750); err != nil { // safe: Dir is fixed
		return err
	}
	return os.WriteFile(filepath.Join(u.Dir, u.Name), data, 0o600) // want VGL-GO-003
}

func pathStruct(w http.ResponseWriter, r *http.Request) {
	u := &upload{Dir: "/tmp/uploads", Name: r.FormValue("n")}
	_ = u.save([]byte("x"))
}
