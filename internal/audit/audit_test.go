package audit

import (
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

func TestWrite(t *testing.T) {
	var lines []string
	log := funcr.NewJSON(func(obj string) { lines = append(lines, obj) }, funcr.Options{})
	New(log).Write(Record{Kind: "Incident", Namespace: "shop", Name: "web-down", Transition: "Resolved",
		By: "alice", Phase: "Resolved", Message: "resolved (Fixed) by alice", Fields: []any{"priority", "P2"}})
	if len(lines) != 1 {
		t.Fatalf("want one line, got %d", len(lines))
	}
	for _, want := range []string{`"logger":"audit"`, `"msg":"resolved (Fixed) by alice"`, `"audit":true`, `"kind":"Incident"`,
		`"namespace":"shop"`, `"name":"web-down"`, `"transition":"Resolved"`, `"phase":"Resolved"`, `"by":"alice"`, `"priority":"P2"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("record %s lacks %s", lines[0], want)
		}
	}
}
