// Package custom compiles and evaluates administrator-defined detectors: CEL expressions over
// any object (CRDs included) that say when it is unhealthy (docs/detectors.md). It is pure:
// no client, an injected clock, objects as the map[string]any an unstructured object holds.
package custom

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// CostLimit bounds one evaluation of one expression, in CEL cost units (the API server uses
// the same unit for its validation rules: roughly one unit per value visited). 1,000,000 lets
// an expression walk a few thousand conditions; a runaway comprehension stops with an error.
const CostLimit uint64 = 1_000_000

// MaxExpressionLength bounds an expression's source, in bytes.
const MaxExpressionLength = 4096

// Expressions are the CEL sources of one detector. Each sees one variable, object: the
// watched object as a dynamic map (apiVersion, kind, metadata, spec, status...).
type Expressions struct {
	// Unhealthy must evaluate to a bool: true while the object is unhealthy.
	Unhealthy string
	// Message (optional) evaluates to the signal's text, a string.
	Message string
	// Since (optional) evaluates to when the problem started: a timestamp, or an RFC 3339
	// string such as a condition's lastTransitionTime. Absent: when the operator first saw it.
	Since string
}

// Program is a detector's compiled expressions, safe for concurrent use.
type Program struct {
	unhealthy, message, since cel.Program
}

// FieldError is a compile error of one expression; Field is "unhealthy", "message" or "since".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("object", cel.DynType),
		ext.Strings(),
		cel.OptionalTypes(),
	)
	if err != nil {
		panic(err) // a static environment: a programming error
	}
	return e
}()

// Compile parses and type-checks the expressions. It returns a *FieldError naming the
// expression that does not compile, is too long, or does not give the type it must (bool for
// unhealthy, string for message, timestamp or string for since; dyn is accepted and checked
// at evaluation).
func Compile(x Expressions) (*Program, error) {
	p := &Program{}
	var err error
	if p.unhealthy, err = compile("unhealthy", x.Unhealthy, true, cel.BoolType); err != nil {
		return nil, err
	}
	if p.message, err = compile("message", x.Message, false, cel.StringType); err != nil {
		return nil, err
	}
	if p.since, err = compile("since", x.Since, false, cel.TimestampType, cel.StringType); err != nil {
		return nil, err
	}
	return p, nil
}

func compile(name, src string, required bool, want ...*cel.Type) (cel.Program, error) {
	if strings.TrimSpace(src) == "" {
		if required {
			return nil, &FieldError{name, errors.New("a CEL expression is required")}
		}
		return nil, nil
	}
	if len(src) > MaxExpressionLength {
		return nil, &FieldError{name, fmt.Errorf("longer than %d bytes", MaxExpressionLength)}
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, &FieldError{name, iss.Err()}
	}
	out := ast.OutputType()
	ok := out.IsExactType(cel.DynType)
	names := make([]string, 0, len(want))
	for _, w := range want {
		ok = ok || out.IsExactType(w)
		n := w.String()
		if w == cel.TimestampType {
			n = "timestamp"
		}
		names = append(names, n)
	}
	if !ok {
		return nil, &FieldError{name, fmt.Errorf("must evaluate to %s, not %s", strings.Join(names, " or "), out)}
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, &FieldError{name, err}
	}
	return prg, nil
}

// Verdict is what a detector's expressions say about one object.
type Verdict struct {
	// Unhealthy is the unhealthy expression's value.
	Unhealthy bool
	// Message is the message expression's value ("" without one, or when it failed).
	Message string
	// Since is the since expression's value (zero without one, or when it failed).
	Since time.Time
}

// Evaluate runs the expressions over the object (an unstructured object's content). An
// error of the unhealthy expression (a missing field without has(), a wrong type, the cost
// limit) is returned: the caller cannot judge the object. message and since are best effort.
func (p *Program) Evaluate(object map[string]any) (Verdict, error) {
	vars := map[string]any{"object": object}
	v, _, err := p.unhealthy.Eval(vars)
	if err != nil {
		return Verdict{}, fmt.Errorf("unhealthy: %w", err)
	}
	b, ok := v.Value().(bool)
	if !ok {
		return Verdict{}, fmt.Errorf("unhealthy: evaluated to %s, not bool", v.Type().TypeName())
	}
	out := Verdict{Unhealthy: b}
	if !b {
		return out, nil
	}
	if p.message != nil {
		if m, _, err := p.message.Eval(vars); err == nil {
			if s, ok := m.Value().(string); ok {
				out.Message = s
			}
		}
	}
	if p.since != nil {
		if s, _, err := p.since.Eval(vars); err == nil {
			out.Since = asTime(s)
		}
	}
	return out, nil
}

func asTime(v ref.Val) time.Time {
	switch x := v.(type) {
	case types.Timestamp:
		return x.Time
	case types.String:
		t, err := time.Parse(time.RFC3339, string(x))
		if err == nil {
			return t
		}
	}
	return time.Time{}
}
