package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// reasonConstants parses api/v1alpha1 and returns every string constant named Reason*, by name.
func reasonConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "..", "api", "v1alpha1", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("api/v1alpha1 sources: %v (%d files)", err, len(files))
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: %s is not a string literal; extend this test", fset.Position(name.Pos()), name.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[name.Name] = v
				}
			}
		}
	}
	if len(out) < 40 {
		t.Fatalf("found only %d Reason* constants in api/v1alpha1: is the parse right?", len(out))
	}
	return out
}

// TestBuiltInReasonsComplete: every Reason* constant of the API is listed, in IncidentReasons
// or ConditionReasons (exactly one), so a reason added later cannot be forgotten by the
// detectors' validation; and every one is refused as a custom detector's reason, the key named.
func TestBuiltInReasonsComplete(t *testing.T) {
	consts := reasonConstants(t)
	listed := map[string]int{}
	for _, list := range [][]string{itopsv1alpha1.IncidentReasons, itopsv1alpha1.ConditionReasons} {
		for _, r := range list {
			listed[r]++
		}
	}
	values := map[string]bool{}
	names := make([]string, 0, len(consts))
	for n, v := range consts {
		values[v] = true
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch v := consts[n]; listed[v] {
		case 0:
			t.Errorf("%s (%q) is in neither itopsv1alpha1.IncidentReasons nor ConditionReasons", n, v)
		case 1:
		default:
			t.Errorf("%s (%q) is listed %d times", n, v, listed[v])
		}
	}
	for r := range listed {
		if !values[r] {
			t.Errorf("%q is listed but no Reason* constant has it", r)
		}
	}
	for _, n := range names {
		v := consts[n]
		t.Run(n, func(t *testing.T) {
			_, err := Parse([]byte("detectors:\n- {name: a, apiVersion: v1, kind: ConfigMap, reason: " + v + ", unhealthy: \"true\"}\n"))
			want := `detectors[0].reason: Invalid value: "` + v + `": is a built-in reason`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want an error containing %q, got %v", want, err)
			}
		})
	}
}
