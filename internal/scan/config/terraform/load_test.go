package terraform

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/scan"
)

const evalSrc = `
variable "env" {
  default = "prod"
}
variable "ports" {
  default = [22, 443]
}
variable "no_default" {}

locals {
  name    = "app-${var.env}"
  tags    = merge({ env = var.env }, { team = "web" })
  upper   = upper(local.name)
  first   = var.ports[0]
  doubled = [for p in var.ports : p * 2]
  unknown = aws_s3_bucket.x.arn
  partly  = { a = 1, b = var.no_default }
}

resource "aws_thing" "t" {
  literal  = "x"
  number   = 3
  float    = 1.5
  flag     = true
  nothing  = null
  name     = local.name
  upper    = local.upper
  tags     = local.tags
  first    = local.first
  doubled  = local.doubled
  cond     = var.env == "prod" ? "big" : "small"
  ref      = aws_s3_bucket.x.id
  missing  = var.undeclared
  nodef    = var.no_default
  partly   = local.partly
  fn       = cidrsubnet("10.0.0.0/8", 8, 1)
  json     = jsonencode({ a = [1, "b"] })
  jsonref  = jsonencode({ a = aws_s3_bucket.x.arn })
  nested   = [for a in var.ports : [for b in var.ports : a + b]]

  block {
    inner = local.first + 1
  }
}

resource "aws_thing" "gone" {
  count = 0
}

resource "aws_thing" "maybe" {
  count = var.no_default ? 1 : 0
}

data "aws_iam_policy_document" "d" {
  statement {
    actions = ["s3:*"]
  }
}
`

func TestEval(t *testing.T) {
	m, errs := Load([]SourceFile{{Path: "main.tf", Data: []byte(evalSrc)}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(m.Resources) != 2 || m.Resources[0].Address() != "aws_thing.t" || m.Resources[1].Address() != "aws_thing.maybe" {
		t.Fatalf("resources %v (count = 0 is left out, unknown count kept)", addrs(m.Resources))
	}
	if len(m.Data) != 1 || m.Data[0].Address() != "data.aws_iam_policy_document.d" {
		t.Fatalf("data %v", addrs(m.Data))
	}
	r := m.Resources[0]
	for name, want := range map[string]any{
		"literal": "x", "number": int64(3), "float": 1.5, "flag": true, "nothing": nil,
		"name": "app-prod", "upper": "APP-PROD", "tags": map[string]any{"env": "prod", "team": "web"},
		"first": int64(22), "doubled": []any{int64(44), int64(886)}, "cond": "big",
		"ref": Unknown{}, "missing": Unknown{}, "nodef": Unknown{}, "partly": map[string]any{"a": int64(1), "b": Unknown{}},
		"fn": Unknown{}, "json": `{"a":[1,"b"]}`, "jsonref": Unknown{}, "nested": Unknown{},
	} {
		a := r.Get(name)
		if a == nil {
			t.Errorf("%s: missing", name)
			continue
		}
		if !reflect.DeepEqual(a.Value, want) {
			t.Errorf("%s = %#v, want %#v", name, a.Value, want)
		}
	}
	if got := r.Nested("block")[0].Get("inner").Value; got != int64(23) {
		t.Errorf("block.inner = %#v", got)
	}
	if r.Get("name").Line != 26 || r.Line != 20 {
		t.Errorf("lines: resource %d, name %d", r.Line, r.Get("name").Line)
	}
	data := m.Files[0].Data()
	res := data["resource"].(map[string]any)["aws_thing"].(map[string]any)["t"].(map[string]any)
	if res["ref"] != nil || res["name"] != "app-prod" || len(res["block"].([]any)) != 1 {
		t.Errorf("Data: %#v", res)
	}
}

func addrs(bs []*Block) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Address())
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	_, errs := Load([]SourceFile{
		{Path: "ok.tf", Data: []byte(`resource "a" "b" {}`)},
		{Path: "bad.tf", Data: []byte("resource \"a\" \"b\" {\n  x = \n}\n")},
		{Path: "deep.tf", Data: []byte("locals {\n  x = " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\n}\n")},
	})
	if len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
	var fe *FileError
	if !errors.As(errs[0], &fe) || fe.Path != "bad.tf" || !strings.Contains(fe.Error(), "line 2") {
		t.Errorf("bad.tf: %v", errs[0])
	}
	if !errors.As(errs[1], &fe) || fe.Path != "deep.tf" || !strings.Contains(fe.Error(), "nested") {
		t.Errorf("deep.tf: %v", errs[1])
	}
}

// TestExplosiveLocals: locals that double a value at each step, and a for
// expression calling a function on a large value for each element, end as
// unknown in bounded time instead of exhausting memory.
func TestExplosiveLocals(t *testing.T) {
	var b strings.Builder
	b.WriteString("locals {\n  l0 = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n")
	for i := 1; i <= 60; i++ {
		b.WriteString("  l" + itoa(i) + " = [local.l" + itoa(i-1) + ", local.l" + itoa(i-1) + "]\n")
	}
	b.WriteString("  s1 = \"${local.l0}${local.l0}\"\n")
	for i := 2; i <= 60; i++ {
		b.WriteString("  s" + itoa(i) + " = \"${local.s" + itoa(i-1) + "}${local.s" + itoa(i-1) + "}\"\n")
	}
	b.WriteString("  flat = flatten(local.l12)\n  big = [for i in local.flat : jsonencode(local.flat)]\n}\n")
	b.WriteString("resource \"a\" \"b\" {\n  x = local.l60\n  y = local.s60\n  z = length(local.big)\n}\n")
	start := time.Now()
	m, errs := Load([]SourceFile{{Path: "x.tf", Data: []byte(b.String())}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	r := m.Resources[0]
	for _, n := range []string{"x", "y", "z"} {
		if known(r.Get(n).Value) {
			t.Errorf("%s is known, want (partly) unknown", n)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzLoad: the loader and the checks take any input without panicking.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(evalSrc))
	f.Add([]byte(`resource "aws_security_group" "s" {
  ingress {
    from_port = 22
    to_port = 22
    protocol = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
resource "aws_iam_policy" "p" {
  policy = <<EOT
{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "${var.x}"}]}
EOT
}`))
	f.Add([]byte(`locals { a = [for x in range(3) : x] }`))
	f.Add([]byte("resource \"a\" \"b\" {\n  x = {\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _ := Load([]SourceFile{{Path: "f.tf", Data: data}})
		Check(m, func(scan.Finding) {})
		for _, f := range m.Files {
			_ = f.Data()
		}
	})
}
