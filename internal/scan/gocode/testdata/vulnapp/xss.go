package main

import (
	"fmt"
	"html"
	htmltemplate "html/template"
	"io"
	"net/http"
	"text/template"
)

var (
	textTmpl = template.Must(template.New("t").Parse(`<p>{{.}}</p>`))
	htmlTmpl = htmltemplate.Must(htmltemplate.New("h").Parse(`<p>{{.}}</p>`))
)

func xssFprintf(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("name")
	fmt.Fprintf(w, "<h1>Hello %s</h1>", name)                    // want VGL-GO-005
	fmt.Fprintf(w, "<h1>Hello %s</h1>", html.EscapeString(name)) // safe
}

func xssWrite(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "<p>"+r.URL.Query().Get("q")+"</p>") // want VGL-GO-005
	_, _ = w.Write([]byte(r.Referer()))                           // want VGL-GO-005
	_, _ = io.WriteString(w, "<p>static</p>")                     // safe
}

func xssJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"q":"` + r.URL.Query().Get("q") + `"}`)) // safe: not HTML
}

func xssTemplate(w http.ResponseWriter, r *http.Request) {
	bio := r.FormValue("bio")
	page := struct{ Bio htmltemplate.HTML }{Bio: htmltemplate.HTML(bio)} // want VGL-GO-005
	_ = htmlTmpl.Execute(w, page)
	safe := htmltemplate.HTML(htmltemplate.HTMLEscapeString(bio)) // safe
	_ = htmlTmpl.Execute(w, safe)
	_ = textTmpl.Execute(w, bio) // want VGL-GO-005
	_ = htmlTmpl.Execute(w, bio) // safe: html/template escapes
}

// greeting wraps a name in markup.
func greeting(name string) string { return "<b>" + name + "</b>" }

// render writes a body into a page.
func render(w http.ResponseWriter, body string) {
	fmt.Fprintf(w, "<div>%s</div>", body) // want VGL-GO-005
}

func xssHelper(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, greeting(r.FormValue("n"))) // want VGL-GO-005
	fmt.Fprint(w, greeting("world"))          // safe
	render(w, r.FormValue("body"))
	render(w, "<i>static</i>") // safe
}

// page holds what a handler renders.
type page struct {
	Title string
	Body  string
}

func xssStruct(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Home", Body: r.FormValue("b")}
	fmt.Fprintf(w, "<title>%s</title>", p.Title) // safe
	fmt.Fprintf(w, "<div>%s</div>", p.Body)      // want VGL-GO-005
}
