// Command vulnapp is a fixture for the gocode scanner: every planted flaw
// is marked "want RULE" on the line the finding must be reported at, every
// safe twin "safe" (no taint finding may start, pass or end there).
package main

import (
	"bufio"
	"database/sql"
	"flag"
	"net/http"
	"os"
	"os/exec"

	"example.com/vulnapp/internal/store"
)

type server struct {
	db    *sql.DB
	store *store.Store
	http  *http.Client
}

func main() {
	db, err := sql.Open("sqlite", "file:app.db")
	if err != nil {
		return
	}
	s := &server{db: db, store: store.New(db), http: &http.Client{}}
	mux := http.NewServeMux()
	s.routes(mux)
	cli()
	_ = http.ListenAndServe("localhost:8080", mux)
}

func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("/sql/1", s.sqlConcat)
	mux.HandleFunc("/sql/2", s.sqlSprintf)
	mux.HandleFunc("/sql/3", s.sqlHelper)
	mux.HandleFunc("/sql/4", s.sqlStruct)
	mux.HandleFunc("/sql/5", s.sqlBuilder)
	mux.HandleFunc("/sql/6", s.sqlJSON)
	mux.HandleFunc("/sql/7", s.sqlInterface)
	mux.HandleFunc("/sql/8", s.sqlClosure)
	mux.HandleFunc("/sql/9", s.sqlStore)
	mux.HandleFunc("/cmd/1", cmdProgram)
	mux.HandleFunc("/cmd/2", cmdShell)
	mux.HandleFunc("/cmd/3", cmdHelper)
	mux.HandleFunc("/cmd/4", cmdStruct)
	mux.HandleFunc("/path/1", pathDirect)
	mux.HandleFunc("/path/2", pathJoin)
	mux.HandleFunc("/path/3", pathHelper)
	mux.HandleFunc("/path/4", pathStruct)
	mux.HandleFunc("/path/5", pathGuards)
	mux.HandleFunc("/ssrf/1", ssrfGet)
	mux.HandleFunc("/ssrf/2", s.ssrfRequest)
	mux.HandleFunc("/ssrf/3", s.ssrfHelper)
	mux.HandleFunc("/ssrf/4", ssrfStruct)
	mux.HandleFunc("/ssrf/5", ssrfDial)
	mux.HandleFunc("/xss/1", xssFprintf)
	mux.HandleFunc("/xss/2", xssWrite)
	mux.HandleFunc("/xss/3", xssJSON)
	mux.HandleFunc("/xss/4", xssTemplate)
	mux.HandleFunc("/xss/5", xssHelper)
	mux.HandleFunc("/xss/6", xssStruct)
	mux.HandleFunc("/flow/1", s.flowResultStruct)
	mux.HandleFunc("/flow/2", s.flowContainers)
	mux.HandleFunc("/flow/3", flowGlobalSet)
	mux.HandleFunc("/flow/4", s.flowGlobalUse)
	mux.HandleFunc("/flow/5", s.flowInterfaces)
	mux.HandleFunc("/flow/6", s.flowAllowList)
	mux.HandleFunc("/flow/7", s.flowRequestHelper)
}

// cli: command-line and standard input sources.
func cli() {
	if len(os.Args) > 2 {
		_ = exec.Command(os.Args[1]).Run() // want VGL-GO-002
	}
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	_ = exec.Command("sh", "-c", line).Run() // want VGL-GO-002
	editor := os.Getenv("EDITOR")
	_ = exec.Command(editor).Run() // safe: the environment is not a source
	if len(os.Args) > 2 {
		_, _ = os.ReadFile(os.Args[2]) // safe: the command line may name files
	}
	tool := flag.String("tool", "true", "a program to run")
	flag.Parse()
	_ = exec.Command(*tool).Run() // want VGL-GO-002
}
