package webhookscope

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func serviceLevel(ns string, scaling, deleting bool) itopsv1alpha1.ServiceLevel {
	sl := itopsv1alpha1.ServiceLevel{ObjectMeta: metav1.ObjectMeta{Name: "sl", Namespace: ns}}
	if scaling {
		sl.Spec.Scaling = &itopsv1alpha1.ScalingPolicy{MaxReplicas: ptr.To[int32](3)}
	}
	if deleting {
		sl.DeletionTimestamp = &metav1.Time{}
	}
	return sl
}

func TestScalingNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		sls  []itopsv1alpha1.ServiceLevel
		want []string
	}{
		{name: "no ServiceLevels", want: nil},
		{name: "ServiceLevels without scaling do not count", sls: []itopsv1alpha1.ServiceLevel{serviceLevel("shop", false, false)}, want: nil},
		{name: "one with scaling", sls: []itopsv1alpha1.ServiceLevel{serviceLevel("shop", true, false), serviceLevel("blog", false, false)}, want: []string{"shop"}},
		{name: "being deleted does not count", sls: []itopsv1alpha1.ServiceLevel{serviceLevel("shop", true, true)}, want: nil},
		{name: "a namespace counts while one of its ServiceLevels has scaling",
			sls: []itopsv1alpha1.ServiceLevel{serviceLevel("shop", true, true), serviceLevel("shop", false, false), serviceLevel("shop", true, false)}, want: []string{"shop"}},
		{name: "sorted and deduplicated",
			sls:  []itopsv1alpha1.ServiceLevel{serviceLevel("web", true, false), serviceLevel("api", true, false), serviceLevel("web", true, false), serviceLevel("db", true, false)},
			want: []string{"api", "db", "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ScalingNamespaces(tc.sls); !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("ScalingNamespaces = %v, want %v", got, tc.want)
			}
		})
	}
}

var exclusions = metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
	Values: []string{"kube-system", "itops-system", "itops-cluster"}}

func in(values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: values}
}

func TestScopedSelector(t *testing.T) {
	for _, tc := range []struct {
		name       string
		current    *metav1.LabelSelector
		namespaces []string
		want       *metav1.LabelSelector
	}{
		{name: "the shipped default, no namespace: matches nothing",
			current: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in(NoNamespace), exclusions}},
			want:    &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in(NoNamespace), exclusions}}},
		{name: "the shipped default, namespaces: listed, exclusions kept",
			current:    &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in(NoNamespace), exclusions}},
			namespaces: []string{"api", "shop"},
			want:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in("api", "shop"), exclusions}}},
		{name: "back to none",
			current: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{exclusions, in("shop")}},
			want:    &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{exclusions, in(NoNamespace)}}},
		{name: "no selector at all (an older install): the In expression is added",
			namespaces: []string{"shop"},
			want:       &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in("shop")}}},
		{name: "an administrator's own expressions and labels are kept, the In expression comes first",
			current: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"},
				MatchExpressions: []metav1.LabelSelectorRequirement{exclusions}},
			namespaces: []string{"shop"},
			want: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"},
				MatchExpressions: []metav1.LabelSelectorRequirement{in("shop"), exclusions}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before *metav1.LabelSelector
			if tc.current != nil {
				before = tc.current.DeepCopy()
			}
			got := ScopedSelector(tc.current, tc.namespaces)
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("ScopedSelector = %+v, want %+v", got, tc.want)
			}
			if !apiequality.Semantic.DeepEqual(tc.current, before) {
				t.Errorf("ScopedSelector modified its input: %+v", tc.current)
			}
		})
	}
}

func TestApply(t *testing.T) {
	def := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in(NoNamespace), exclusions}}
	gate := &metav1.LabelSelector{MatchLabels: map[string]string{"itops.dev/change-control": "enforced"}}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{
		{Name: "vgate.itops.dev", NamespaceSelector: gate},
		{Name: "vscaling.itops.dev", NamespaceSelector: def.DeepCopy()},
		{Name: "vscalinghpa.itops.dev", NamespaceSelector: def.DeepCopy()},
	}}
	if Apply(cfg, nil) {
		t.Fatal("Apply with the default in place and no namespace reported a change")
	}
	if !Apply(cfg, []string{"shop"}) {
		t.Fatal("Apply of a new namespace reported no change")
	}
	want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{in("shop"), exclusions}}
	for _, wh := range cfg.Webhooks[1:] {
		if !apiequality.Semantic.DeepEqual(wh.NamespaceSelector, want) {
			t.Errorf("%s: namespaceSelector %+v, want %+v", wh.Name, wh.NamespaceSelector, want)
		}
	}
	if !apiequality.Semantic.DeepEqual(cfg.Webhooks[0].NamespaceSelector, gate) {
		t.Errorf("another webhook's selector changed: %+v", cfg.Webhooks[0].NamespaceSelector)
	}
	if Apply(cfg, []string{"shop"}) {
		t.Error("Apply of the same namespaces again reported a change (a patch per ServiceLevel event)")
	}
	off := &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "vgate.itops.dev"}}}
	if Apply(off, []string{"shop"}) {
		t.Error("Apply to a configuration without the scaling webhooks (turned off) reported a change")
	}
}
