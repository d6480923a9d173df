package netcheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Webhook is what the WebhookUnavailable detector reads of one webhook of a
// Validating- or MutatingWebhookConfiguration.
type Webhook struct {
	Name string
	// FailurePolicy is Fail (the API's default) or Ignore.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// Service is clientConfig.service (nil: the webhook calls a URL, not checked).
	Service *admissionregistrationv1.ServiceReference
	Rules   []admissionregistrationv1.RuleWithOperations
}

// ValidatingWebhooks reads the webhooks of a ValidatingWebhookConfiguration.
func ValidatingWebhooks(c *admissionregistrationv1.ValidatingWebhookConfiguration) []Webhook {
	out := make([]Webhook, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		out = append(out, Webhook{Name: w.Name, FailurePolicy: failurePolicy(w.FailurePolicy), Service: w.ClientConfig.Service, Rules: w.Rules})
	}
	return out
}

// MutatingWebhooks reads the webhooks of a MutatingWebhookConfiguration.
func MutatingWebhooks(c *admissionregistrationv1.MutatingWebhookConfiguration) []Webhook {
	out := make([]Webhook, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		out = append(out, Webhook{Name: w.Name, FailurePolicy: failurePolicy(w.FailurePolicy), Service: w.ClientConfig.Service, Rules: w.Rules})
	}
	return out
}

func failurePolicy(p *admissionregistrationv1.FailurePolicyType) admissionregistrationv1.FailurePolicyType {
	if p == nil {
		return admissionregistrationv1.Fail // admissionregistration.k8s.io/v1's default
	}
	return *p
}

// ServiceState is what the detector knows of a webhook's Service.
type ServiceState struct {
	// Exists: the Service exists.
	Exists bool
	// ExternalName: a DNS alias; the API server resolves the name itself (judged available).
	ExternalName bool
	// ReadyEndpoints counts the ready endpoints of its EndpointSlices.
	ReadyEndpoints int
	// Ports are the Service's port numbers (spec.ports[].port).
	Ports []int32
}

// webhookPort is the port a webhook calls: clientConfig.service.port, 443 by default.
func webhookPort(s *admissionregistrationv1.ServiceReference) int32 {
	if s.Port == nil {
		return 443
	}
	return *s.Port
}

// Kinds of object that make the API server call a Service (the callers of
// JudgeWebhookService).
const (
	KindValidatingWebhookConfiguration = "ValidatingWebhookConfiguration"
	KindMutatingWebhookConfiguration   = "MutatingWebhookConfiguration"
	KindCustomResourceDefinition       = "CustomResourceDefinition"
	KindAPIService                     = "APIService"
)

// Caller is one thing through which the API server calls a Service: an admission webhook of a
// Validating- or MutatingWebhookConfiguration, the conversion webhook of a
// CustomResourceDefinition, or an aggregated API (APIService).
type Caller struct {
	// Kind and Name name the object that configures it (Kind* above; cluster-scoped).
	Kind, Name string
	// Webhook is the webhook's name in a webhook configuration ("" for the other kinds).
	Webhook string
	// FailurePolicy of an admission webhook (Fail or Ignore); conversion webhooks and
	// APIServices always fail closed (Fail).
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// Port is the Service port the API server calls (443 by default).
	Port int32
	// Rules are an admission webhook's rules (what it intercepts).
	Rules []admissionregistrationv1.RuleWithOperations
	// Down is an APIService's own report that it is unavailable: its Available=False
	// condition's reason and message (the aggregator checked the Service itself; ""
	// otherwise: judged from the Service's state).
	Down string
	// Reports: the caller has an Available condition (an APIService); it alone decides,
	// Down saying whether it is unavailable.
	Reports bool
}

// String names the caller: "ValidatingWebhookConfiguration kyverno/validate.kyverno.svc",
// "CustomResourceDefinition widgets.example.com".
func (c Caller) String() string {
	if c.Webhook != "" {
		return c.Kind + " " + c.Name + "/" + c.Webhook
	}
	return c.Kind + " " + c.Name
}

// breaks says what fails while the caller's Service cannot answer.
func (c Caller) breaks() string {
	switch c.Kind {
	case KindCustomResourceDefinition:
		return "reads and writes of " + c.Name + " that need a conversion fail, and garbage collection and namespace deletion can hang on them"
	case KindAPIService:
		return "requests to " + c.Name + " fail, discovery is incomplete (kubectl warns, some clients fail) and namespace deletion hangs"
	}
	if c.FailurePolicy == admissionregistrationv1.Ignore {
		return Intercepts(c.Rules) + " pass without it, each after the webhook's timeout"
	}
	return "the API server rejects " + Intercepts(c.Rules)
}

// WebhookCallers reads the callers of a webhook configuration (admission webhooks calling a
// Service; URL webhooks are not checked).
func WebhookCallers(kind, name string, hooks []Webhook) []CallerOf {
	var out []CallerOf
	for _, h := range hooks {
		if h.Service == nil {
			continue
		}
		out = append(out, CallerOf{Namespace: h.Service.Namespace, Service: h.Service.Name, Caller: Caller{Kind: kind, Name: name,
			Webhook: h.Name, FailurePolicy: h.FailurePolicy, Port: webhookPort(h.Service), Rules: h.Rules}})
	}
	return out
}

// CallerOf is a caller with the Service it calls.
type CallerOf struct {
	Namespace, Service string
	Caller             Caller
}

// WebhookVerdict is the judgement of one Service the API server calls.
type WebhookVerdict struct {
	// Unavailable are the callers that cannot reach it (sorted by String).
	Unavailable []Caller
	// Impact and Urgency of the signal: High / High (P1) when one of them fails closed
	// (failurePolicy Fail, a conversion webhook, an APIService: the API server rejects what
	// it sends there), Low / Medium (P4) when all fail open (Ignore: requests pass without the
	// webhook, each after its timeout). The worst caller decides.
	Impact, Urgency itopsv1alpha1.Level
	Priority        itopsv1alpha1.Priority
	// Message says what is wrong with the Service, then per caller (at most maxNamed, then
	// "and N more") what it breaks.
	Message string
}

// JudgeWebhookService judges one Service (namespace/name) that the API server calls, for
// every caller that names it, from the Service's state: one verdict per Service, so an
// outage of a Service several configurations call (Kyverno, Gatekeeper, cert-manager,
// Istio) is one problem. A caller is unavailable when the Service does not exist, lacks the
// caller's port or has no ready endpoint (an ExternalName Service is judged available: the
// API server resolves it), or when it reports itself down (an APIService's Available=False,
// whose message is quoted).
func JudgeWebhookService(namespace, name string, callers []Caller, st ServiceState) WebhookVerdict {
	v := WebhookVerdict{}
	cs := append([]Caller(nil), callers...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].String() < cs[j].String() })
	parts := make([]string, 0, len(cs))
	failClosed := false
	whats := map[string]bool{}
	for _, c := range cs {
		var what string
		switch {
		case c.Down != "":
			what = c.Down
		case c.Reports:
			continue
		case !st.Exists:
			what = "does not exist"
		case st.ExternalName:
			continue
		case !slices.Contains(st.Ports, c.Port):
			what = fmt.Sprintf("has no port %d", c.Port)
		case st.ReadyEndpoints > 0:
			continue
		default:
			what = "has no ready endpoint"
		}
		v.Unavailable = append(v.Unavailable, c)
		if c.Kind == KindAPIService || c.Kind == KindCustomResourceDefinition || c.FailurePolicy != admissionregistrationv1.Ignore {
			failClosed = true
		}
		if c.Down == "" {
			whats[what] = true
		}
		policy := ""
		if c.Kind == KindValidatingWebhookConfiguration || c.Kind == KindMutatingWebhookConfiguration {
			policy = fmt.Sprintf(" (failurePolicy %s)", c.FailurePolicy)
		}
		part := c.String() + policy + ": " + c.breaks()
		if c.Down != "" {
			part = c.String() + " reports Available=False (" + c.Down + "): " + c.breaks()
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return v
	}
	if failClosed {
		v.Impact, v.Urgency = itopsv1alpha1.LevelHigh, itopsv1alpha1.LevelHigh
	} else {
		v.Impact, v.Urgency = itopsv1alpha1.LevelLow, itopsv1alpha1.LevelMedium
	}
	v.Priority = priority.For(v.Impact, v.Urgency)
	state := "cannot answer"
	if w := keys(whats); len(w) > 0 {
		state = strings.Join(w, ", ")
	}
	v.Message = fmt.Sprintf("Service %s/%s, which the API server calls for %d %s, %s: %s", namespace, name,
		len(parts), plural(len(parts), "webhook or API", "webhooks or APIs"), state, listed(parts))
	return v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listed joins the first maxNamed parts with "; ", then "and N more".
func listed(parts []string) string {
	if len(parts) <= maxNamed {
		return strings.Join(parts, "; ")
	}
	return strings.Join(parts[:maxNamed], "; ") + fmt.Sprintf("; and %d more", len(parts)-maxNamed)
}

// MaxAffected bounds spec.affected of an incident (the CRD's MaxItems).
const MaxAffected = 32

// CapAffected appends refs to affected without duplicates, keeping at most MaxAffected-1
// entries (the incident writer puts the subject first).
func CapAffected(affected []itopsv1alpha1.ObjectReference, refs ...itopsv1alpha1.ObjectReference) []itopsv1alpha1.ObjectReference {
	for _, r := range refs {
		if len(affected) >= MaxAffected-1 {
			break
		}
		if !slices.Contains(affected, r) {
			affected = append(affected, r)
		}
	}
	return affected
}

// Intercepts describes what a webhook's rules intercept: "CREATE, UPDATE of pods,
// deployments.apps" (operations, then resources as resource.group; "*" is "every"), at most
// maxNamed resources named.
func Intercepts(rules []admissionregistrationv1.RuleWithOperations) string {
	ops := map[string]bool{}
	res := map[string]bool{}
	for _, r := range rules {
		for _, op := range r.Operations {
			ops[string(op)] = true
		}
		groups := r.APIGroups
		if len(groups) == 0 {
			groups = []string{""}
		}
		for _, g := range groups {
			for _, rs := range r.Resources {
				switch {
				case rs == "*" && g == "*":
					res["every resource"] = true
				case g == "":
					res[rs] = true
				default:
					res[rs+"."+g] = true
				}
			}
		}
	}
	opList := keys(ops)
	if ops["*"] || len(opList) == 0 {
		opList = []string{"every operation"}
	}
	resList := keys(res)
	if res["every resource"] {
		resList = []string{"every resource"}
	}
	if len(resList) == 0 {
		return strings.Join(opList, ", ") + " requests"
	}
	return strings.Join(opList, ", ") + " of " + names(resList)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CRDCaller reads the conversion webhook of a CustomResourceDefinition (unstructured, as the
// network detectors' cache keeps it): ok is false unless spec.conversion.strategy is Webhook
// with clientConfig.service and there is something to convert: more than one version in
// spec.versions, or a version in status.storedVersions that spec.versions no longer lists
// (objects stored at it are converted when read). The API server never calls the webhook of
// a CRD with one version (one left behind by an uninstalled operator breaks nothing).
func CRDCaller(obj map[string]any, name string) (CallerOf, bool) {
	if strategy, _, _ := unstructured.NestedString(obj, "spec", "conversion", "strategy"); strategy != "Webhook" {
		return CallerOf{}, false
	}
	versions, _, _ := unstructured.NestedSlice(obj, "spec", "versions")
	listed := map[string]bool{}
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok {
			n, _ := m["name"].(string)
			listed[n] = true
		}
	}
	converts := len(listed) > 1
	stored, _, _ := unstructured.NestedStringSlice(obj, "status", "storedVersions")
	for _, v := range stored {
		converts = converts || !listed[v]
	}
	if !converts {
		return CallerOf{}, false
	}
	svc, ok, _ := unstructured.NestedMap(obj, "spec", "conversion", "webhook", "clientConfig", "service")
	if !ok {
		return CallerOf{}, false
	}
	return serviceCaller(svc, Caller{Kind: KindCustomResourceDefinition, Name: name, FailurePolicy: admissionregistrationv1.Fail})
}

// APIServiceCaller reads an APIService (apiregistration.k8s.io/v1, unstructured): ok is
// false for a local one (no spec.service). Its Available condition, when present, decides:
// False is Down with the aggregator's reason and message (at most 256 characters).
func APIServiceCaller(obj map[string]any, name string) (CallerOf, bool) {
	svc, ok, _ := unstructured.NestedMap(obj, "spec", "service")
	if !ok {
		return CallerOf{}, false
	}
	c := Caller{Kind: KindAPIService, Name: name, FailurePolicy: admissionregistrationv1.Fail}
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] != "Available" {
			continue
		}
		c.Reports = true
		if m["status"] == "False" {
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			c.Down = strings.TrimSpace(reason + ": " + health.Truncate(msg, 256))
		}
	}
	return serviceCaller(svc, c)
}

func serviceCaller(svc map[string]any, c Caller) (CallerOf, bool) {
	ns, _ := svc["namespace"].(string)
	name, _ := svc["name"].(string)
	if ns == "" || name == "" {
		return CallerOf{}, false
	}
	c.Port = 443
	if p, ok, _ := unstructured.NestedInt64(svc, "port"); ok {
		c.Port = int32(p)
	}
	return CallerOf{Namespace: ns, Service: name, Caller: c}, true
}
