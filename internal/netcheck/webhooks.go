package netcheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
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

// WebhookVerdict is the judgement of one webhook configuration.
type WebhookVerdict struct {
	// Unavailable names the webhooks whose Service cannot answer.
	Unavailable []string
	// Impact and Urgency of the signal: High / High (P1) when one of them fails closed
	// (failurePolicy Fail: the API server rejects what it intercepts), Low / Medium (P4) when
	// all fail open (Ignore: requests pass without the webhook, each after its timeout).
	Impact, Urgency itopsv1alpha1.Level
	Priority        itopsv1alpha1.Priority
	// Message says, per unavailable webhook, what is wrong and what it intercepts.
	Message string
}

// JudgeWebhooks checks each webhook of a configuration (kind and name: for the message)
// against its Service's state (service gives it; keys are namespace/name).
func JudgeWebhooks(kind, name string, hooks []Webhook, service func(namespace, name string) ServiceState) WebhookVerdict {
	v := WebhookVerdict{}
	var parts []string
	failClosed := false
	for _, h := range hooks {
		if h.Service == nil {
			continue
		}
		st := service(h.Service.Namespace, h.Service.Name)
		var what string
		switch {
		case !st.Exists:
			what = "which does not exist"
		case st.ExternalName:
			continue
		case !slices.Contains(st.Ports, webhookPort(h.Service)):
			what = fmt.Sprintf("which has no port %d", webhookPort(h.Service))
		case st.ReadyEndpoints > 0:
			continue
		default:
			what = "which has no ready endpoint"
		}
		v.Unavailable = append(v.Unavailable, h.Name)
		effect := "the API server rejects " + Intercepts(h.Rules)
		if h.FailurePolicy == admissionregistrationv1.Ignore {
			effect = Intercepts(h.Rules) + " pass without it, each after the webhook's timeout"
		} else {
			failClosed = true
		}
		parts = append(parts, fmt.Sprintf("webhook %s (failurePolicy %s) calls Service %s/%s, %s: %s",
			h.Name, h.FailurePolicy, h.Service.Namespace, h.Service.Name, what, effect))
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
	v.Message = fmt.Sprintf("%s %s: %s", kind, name, strings.Join(parts, "; "))
	return v
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
