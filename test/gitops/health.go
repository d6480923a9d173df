// Package gitops evaluates objects the way GitOps tools do: Argo CD's Lua health checks, run in
// gopher-lua (the interpreter Argo CD embeds) with the libraries Argo CD opens, and kstatus (what
// Flux's health checks and `kubectl wait` read). Tests use it on fixtures and on live objects.
package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

var scheme = func() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := itopsv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// Argo CD health statuses (gitops-engine's health.HealthStatusCode).
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Suspended   = "Suspended"
	Missing     = "Missing"
	Unknown     = "Unknown"
)

// Health is the result of an Argo CD health check.
type Health struct {
	Status  string
	Message string
}

// HealthDir is the directory of the project's Lua health checks.
func HealthDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "config", "argocd", "health")
}

// ScriptPath is the health check of a kind, named as Argo CD's resource customization key
// (<group>_<Kind>).
func ScriptPath(gvk schema.GroupVersionKind) string {
	return filepath.Join(HealthDir(), gvk.Group+"_"+gvk.Kind+".lua")
}

// ArgoHealth runs the kind's health check on obj as Argo CD does (util/lua): a fresh state with
// only the package, base and table libraries open, obj decoded from JSON into Lua tables, a
// one-second budget, and the result validated against the known statuses.
func ArgoHealth(obj any) (Health, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return Health{}, err
	}
	script, err := os.ReadFile(ScriptPath(u.GroupVersionKind()))
	if err != nil {
		return Health{}, err
	}
	l := newState()
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decode(l, u.Object))
	if err := l.DoString(string(script)); err != nil {
		return Health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	h := Health{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
	switch h.Status {
	case Healthy, Progressing, Degraded, Suspended, Missing, Unknown:
		return h, nil
	}
	return Health{}, fmt.Errorf("lua returned an invalid health status %q", h.Status)
}

// newState is a Lua state with the libraries Argo CD opens for health checks.
func newState() *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	return l
}

// decode turns decoded JSON into Lua values as Argo CD does (maps and lists become tables,
// numbers LNumber).
func decode(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, decode(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(decode(l, e))
		}
		return t
	}
	panic(fmt.Sprintf("unexpected JSON value %T", v))
}

// Kstatus is what Flux's health checks and `kubectl wait --for=condition` make of obj.
func Kstatus(obj any) (*kstatus.Result, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return kstatus.Compute(u)
}

// toUnstructured round-trips a typed itops.dev object (or YAML text) through JSON, as the API
// server serves it, so values have the types a GitOps tool sees.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	var raw []byte
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return o, nil
	case string:
		b, err := yaml.YAMLToJSON([]byte(strings.TrimSpace(o)))
		if err != nil {
			return nil, err
		}
		raw = b
	case k8sruntime.Object:
		gvk, err := apiutil.GVKForObject(o, scheme)
		if err != nil {
			return nil, err
		}
		o = o.DeepCopyObject()
		o.GetObjectKind().SetGroupVersionKind(gvk)
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		raw = b
	default:
		return nil, fmt.Errorf("cannot evaluate %T", obj)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return u, nil
}

// runSnippet runs Lua in the Argo CD environment, for tests of the environment itself.
func runSnippet(src string) error {
	l := newState()
	defer l.Close()
	return l.DoString(src)
}
