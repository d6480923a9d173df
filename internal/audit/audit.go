// Package audit writes the operator's audit trail: one structured JSON record per lifecycle
// transition on the operator's log stream, which cluster log pipelines keep.
package audit

import (
	"github.com/go-logr/logr"
)

// Record is one audit record.
type Record struct {
	// Kind, Namespace and Name identify the object.
	Kind, Namespace, Name string
	// Transition is what happened (Opened, Acknowledged, Resolved, Deleted, ...).
	Transition string
	// By is the person or component the transition is attributed to.
	By string
	// Phase is the object's phase after the transition.
	Phase string
	// Message says it for a person.
	Message string
	// Fields are extra key/value pairs (priority, reason, fingerprint, ...).
	Fields []any
}

// Logger writes audit records. Every record carries "audit": true so that log pipelines can
// route the trail on its own.
type Logger struct{ log logr.Logger }

// New returns an audit logger writing through log.
func New(log logr.Logger) Logger { return Logger{log: log.WithName("audit")} }

// Write emits the record as one structured log line.
func (l Logger) Write(r Record) {
	kv := []any{
		"audit", true,
		"kind", r.Kind, "namespace", r.Namespace, "name", r.Name,
		"transition", r.Transition, "phase", r.Phase,
	}
	if r.By != "" {
		kv = append(kv, "by", r.By)
	}
	kv = append(kv, r.Fields...)
	l.log.Info(r.Message, kv...)
}
