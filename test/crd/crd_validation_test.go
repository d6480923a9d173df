package crd

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/test/gitops"
	"github.com/itops-dev/itops-operator/test/testenv"
)

// object decodes a YAML manifest into an unstructured object in namespace ns.
func object(manifest, ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	return u
}

// expectInvalid asserts that err is an Invalid error whose message contains every part.
func expectInvalid(err error, parts ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	for _, p := range parts {
		Expect(err.Error()).To(ContainSubstring(p))
	}
}

var _ = Describe("The samples", func() {
	It("are all accepted as they are", func() {
		ns := newNamespace()
		files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "itops_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(4))
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(env.Client.Create(ctx, object(string(data), ns))).To(Succeed(), "sample %s", filepath.Base(f))
		}
	})

	It("for Argo CD and Flux hold ChangeRequests the API server accepts", func() {
		var changes int
		root := filepath.Join(testenv.RepoRoot(), "config", "samples", "gitops")
		Expect(filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
				return err
			}
			data, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred())
			for _, doc := range strings.Split(string(data), "\n---\n") {
				u := object(doc, newNamespace())
				if u.GroupVersionKind().Group != itopsv1alpha1.GroupVersion.Group {
					continue // Argo CD Applications, Flux Kustomizations, Deployments
				}
				Expect(env.Client.Create(ctx, u)).To(Succeed(), "sample %s", path)
				changes++
			}
			return nil
		})).To(Succeed())
		Expect(changes).To(Equal(2))
	})
})

var _ = Describe("Defaults", func() {
	It("fill impact, urgency and source of an incident", func() {
		ns := newNamespace()
		inc := &itopsv1alpha1.Incident{}
		inc.Namespace, inc.Name = ns, "defaults"
		inc.Spec.Title = "Something is wrong"
		Expect(env.Client.Create(ctx, inc)).To(Succeed())
		Expect(inc.Spec.Impact).To(Equal(itopsv1alpha1.LevelMedium))
		Expect(inc.Spec.Urgency).To(Equal(itopsv1alpha1.LevelMedium))
		Expect(inc.Spec.Source).To(Equal(itopsv1alpha1.SourceManual))
	})

	It("fill type and risk of a change, and time zone of a window", func() {
		ns := newNamespace()
		chg := object(`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: c}, spec: {title: t}}`, ns)
		Expect(env.Client.Create(ctx, chg)).To(Succeed())
		Expect(chg.Object["spec"]).To(HaveKeyWithValue("type", "Normal"))
		Expect(chg.Object["spec"]).To(HaveKeyWithValue("risk", "Medium"))
		mw := object(`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: w},
			spec: {type: Freeze, schedules: [{start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z"}]}}`, ns)
		Expect(env.Client.Create(ctx, mw)).To(Succeed())
		Expect(mw.Object["spec"]).To(HaveKeyWithValue("timeZone", "UTC"))
	})
})

var _ = Describe("New objects, before the operator has seen them", func() {
	It("read as in progress to kstatus (Flux, kubectl wait) and Argo CD, not as current", func() {
		ns := newNamespace()
		for _, manifest := range []string{
			`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: c}, spec: {title: t}}`,
			`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: w},
				spec: {type: Freeze, schedules: [{start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00Z"}]}}`,
			`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: s},
				spec: {selector: {matchLabels: {app: shop}}, objectives: {availability: "99.9"}}}`,
		} {
			u := object(manifest, ns)
			Expect(env.Client.Create(ctx, u)).To(Succeed())
			live := &unstructured.Unstructured{}
			live.SetGroupVersionKind(u.GroupVersionKind())
			Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(u), live)).To(Succeed())
			Expect(live.Object).To(HaveKeyWithValue("status", HaveKeyWithValue("observedGeneration", BeEquivalentTo(0))))
			r, err := gitops.Kstatus(live)
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Status).To(Equal(kstatus.InProgressStatus), "%s: %s", u.GetKind(), r.Message)
			h, err := gitops.ArgoHealth(live)
			Expect(err).NotTo(HaveOccurred())
			Expect(h.Status).To(Equal(gitops.Progressing), u.GetKind())
		}
	})
})

var _ = DescribeTable("Invalid objects are rejected with a clear message",
	func(manifest string, parts ...string) {
		err := env.Client.Create(ctx, object(manifest, newNamespace()))
		expectInvalid(err, parts...)
	},
	// Incident
	Entry("incident without title",
		`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {impact: High}}`,
		"spec.title: Required value"),
	Entry("incident with an unknown impact",
		`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {title: t, impact: Critical}}`,
		`spec.impact: Unsupported value: "Critical"`, `"High", "Medium", "Low"`),
	Entry("incident with an unknown source",
		`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {title: t, source: Pager}}`,
		`spec.source: Unsupported value: "Pager"`),
	Entry("incident resolution without a code",
		`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {title: t, resolution: {note: done}}}`,
		"spec.resolution.code: Required value"),
	Entry("incident resolution with an unknown code",
		`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {title: t, resolution: {code: Magic}}}`,
		`spec.resolution.code: Unsupported value: "Magic"`),
	Entry("incident with an over-long title",
		`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {title: `+strings.Repeat("a", 257)+`}}`,
		"spec.title: Too long"),
	// ChangeRequest
	Entry("change with a schedule that ends before it starts",
		`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t,
		  schedule: {start: "2026-12-01T22:00:00Z", end: "2026-12-01T20:00:00Z"}}}`,
		"schedule.end must be after schedule.start"),
	Entry("change with a target of an ungated kind",
		`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t, targets: [{kind: Pod, name: p}]}}`,
		`spec.targets[0].kind: Unsupported value: "Pod"`),
	Entry("change with two approvals by one approver",
		`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t,
		  approvals: [{approver: alice, decision: Approve}, {approver: alice, decision: Reject}]}}`,
		`spec.approvals[1]: Duplicate value: {"approver":"alice"}`),
	Entry("change with an unknown decision",
		`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t, approvals: [{approver: alice, decision: Maybe}]}}`,
		`spec.approvals[0].decision: Unsupported value: "Maybe"`),
	Entry("change requiring zero approvals",
		`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t, approvalPolicy: {required: 0}}}`,
		"spec.approvalPolicy.required: Invalid value: 0: spec.approvalPolicy.required in body should be greater than or equal to 1"),
	// MaintenanceWindow
	Entry("window schedule mixing one-off and recurring",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{start: "2026-12-01T20:00:00Z", end: "2026-12-01T22:00:00Z", cron: "0 2 * * 0", duration: 2h}]}}`,
		"a schedule is either one-off {start, end} or recurring {cron, duration}"),
	Entry("window schedule with a start but no end",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{start: "2026-12-01T20:00:00Z"}]}}`,
		"a schedule is either one-off {start, end} or recurring {cron, duration}"),
	Entry("window schedule with a cron but no duration",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{cron: "0 2 * * 0"}]}}`,
		"a schedule is either one-off {start, end} or recurring {cron, duration}"),
	Entry("window schedule with both cron and recurrence",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{cron: "0 2 * * 2", recurrence: "FREQ=MONTHLY;BYDAY=2TU;BYHOUR=2", duration: 2h}]}}`,
		"exactly one of cron and recurrence"),
	Entry("window recurrence that is not a rule",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{recurrence: "every second Tuesday", duration: 2h}]}}`,
		"spec.schedules[0].recurrence", "recurrence must be an RFC 5545 rule starting with FREQ="),
	Entry("window that ends before it starts",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Freeze,
		  schedules: [{start: "2026-12-02T00:00:00Z", end: "2026-12-01T00:00:00Z"}]}}`,
		"spec.schedules[0]: Invalid value: end must be after start"),
	Entry("window with a 6-field cron",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{cron: "0 0 2 * * 0", duration: 2h}]}}`,
		"spec.schedules[0].cron", "cron must have exactly 5 fields"),
	Entry("window with a zero duration",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{cron: "0 2 * * 0", duration: 0s}]}}`,
		"spec.schedules[0].duration", "duration must be more than 0"),
	Entry("window with a negative duration",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{cron: "0 2 * * 0", duration: -1h}]}}`,
		"duration must be more than 0"),
	Entry("window with a duration in days, which Go durations do not have",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance,
		  schedules: [{cron: "0 2 * * 0", duration: 1d}]}}`,
		"spec.schedules[0].duration", "(a duration such as 90s, 15m or 2h)"),
	Entry("window without schedules",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {type: Maintenance, schedules: []}}`,
		"spec.schedules: Invalid value", "should have at least 1 items"),
	Entry("window without type",
		`{apiVersion: itops.dev/v1alpha1, kind: MaintenanceWindow, metadata: {name: x}, spec: {schedules: [{cron: "0 2 * * 0", duration: 1h}]}}`,
		"spec.type: Required value"),
	// ServiceLevel
	Entry("service level without selector",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {objectives: {availability: "99.9"}}}`,
		"spec.selector: Required value"),
	Entry("availability of 100 percent",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, objectives: {availability: "100"}}}`,
		"spec.objectives.availability", "availability must be a decimal percent string greater than 0 and less than 100"),
	Entry("availability of 0 percent",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, objectives: {availability: "0.0"}}}`,
		"availability must be a decimal percent string greater than 0 and less than 100"),
	Entry("availability that is not a number",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, objectives: {availability: "three nines"}}}`,
		"availability must be a decimal percent string"),
	Entry("minReplicas above maxReplicas",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, scaling: {minReplicas: 5, maxReplicas: 3}}}`,
		"spec.scaling", "minReplicas must be less than or equal to maxReplicas"),
	Entry("burn-rate short window not shorter than the long one",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {},
		  burnRateAlerts: [{longWindow: 5m, shortWindow: 1h, factor: "14.4"}]}}`,
		"spec.burnRateAlerts[0]", "shortWindow must be shorter than longWindow"),
	Entry("burn-rate factor that is a float, not a decimal string",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {},
		  burnRateAlerts: [{longWindow: 1h, shortWindow: 5m, factor: 14.4}]}}`,
		"spec.burnRateAlerts[0].factor: Invalid value: \"number\": spec.burnRateAlerts[0].factor in body must be of type string"),
	Entry("SLA resolving faster than it responds",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {},
		  sla: [{priority: P1, respondWithin: 1h, resolveWithin: 15m}]}}`,
		"spec.sla[0]", "resolveWithin must not be shorter than respondWithin"),
	Entry("two SLA targets for one priority",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {},
		  sla: [{priority: P1, respondWithin: 15m}, {priority: P1, respondWithin: 30m}]}}`,
		"spec.sla[1]: Duplicate value"),
	Entry("ratio SLI without total",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, objectives: {availability: "99.9",
		  sli: {type: PrometheusRatio, good: "sum(rate(http_requests_total{code!~'5..'}[{{.window}}]))"}}}}`,
		"spec.objectives.sli", "a PrometheusRatio SLI needs good and total"),
	Entry("ratio SLI query without the window placeholder",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, objectives: {availability: "99.9",
		  sli: {type: PrometheusRatio, good: "sum(rate(http_requests_total{code!~'5..'}[5m]))", total: "sum(rate(http_requests_total[{{.window}}]))"}}}}`,
		"spec.objectives.sli.good", "must contain the range placeholder {{.window}}"),
	Entry("unknown budget policy",
		`{apiVersion: itops.dev/v1alpha1, kind: ServiceLevel, metadata: {name: x}, spec: {selector: {}, budgetPolicy: Panic}}`,
		`spec.budgetPolicy: Unsupported value: "Panic"`),
)

var _ = Describe("Immutability and append-only rules", func() {
	It("keep an incident's fingerprint once set", func() {
		ns := newNamespace()
		inc := object(`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: x}, spec: {title: t, fingerprint: "abc123"}}`, ns)
		Expect(env.Client.Create(ctx, inc)).To(Succeed())

		changed := inc.DeepCopy()
		Expect(unstructured.SetNestedField(changed.Object, "def456", "spec", "fingerprint")).To(Succeed())
		expectInvalid(env.Client.Update(ctx, changed), "spec.fingerprint is immutable once set")

		removed := inc.DeepCopy()
		unstructured.RemoveNestedField(removed.Object, "spec", "fingerprint")
		expectInvalid(env.Client.Update(ctx, removed), "spec.fingerprint is immutable once set")

		// Setting it on an incident that had none is allowed (a manual incident adopted later).
		manual := object(`{apiVersion: itops.dev/v1alpha1, kind: Incident, metadata: {name: adopted}, spec: {title: t}}`, ns)
		Expect(env.Client.Create(ctx, manual)).To(Succeed())
		Expect(unstructured.SetNestedField(manual.Object, "fp", "spec", "fingerprint")).To(Succeed())
		Expect(env.Client.Update(ctx, manual)).To(Succeed())
	})

	It("keep a change's requestedBy", func() {
		ns := newNamespace()
		chg := object(`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t, requestedBy: alice}}`, ns)
		Expect(env.Client.Create(ctx, chg)).To(Succeed())
		Expect(unstructured.SetNestedField(chg.Object, "mallory", "spec", "requestedBy")).To(Succeed())
		expectInvalid(env.Client.Update(ctx, chg), "spec.requestedBy is immutable")

		// Nor can it be added later to a change created without it.
		bare := object(`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: bare}, spec: {title: t}}`, ns)
		Expect(env.Client.Create(ctx, bare)).To(Succeed())
		Expect(unstructured.SetNestedField(bare.Object, "mallory", "spec", "requestedBy")).To(Succeed())
		expectInvalid(env.Client.Update(ctx, bare), "spec.requestedBy is immutable")
	})

	It("keep approvals append-only, and leave entries other field managers own alone", func() {
		ns := newNamespace()
		chg := object(`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t,
			approvals: [{approver: alice, decision: Approve}]}}`, ns)
		Expect(env.Client.Create(ctx, chg)).To(Succeed())

		// A GitOps tool applies the change server-side without approvals: alice's stays.
		applied := object(`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: "t, edited"}}`, ns)
		Expect(env.Client.Patch(ctx, applied, client.Apply, client.FieldOwner("argocd-controller"), client.ForceOwnership)).To(Succeed()) //nolint:staticcheck // SSA of unstructured
		approvals, _, err := unstructured.NestedSlice(applied.Object, "spec", "approvals")
		Expect(err).NotTo(HaveOccurred())
		Expect(approvals).To(HaveLen(1))

		// Another approver appends.
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(chg), chg)).To(Succeed())
		approvals = append(approvals, map[string]any{"approver": "bob", "decision": "Approve"})
		Expect(unstructured.SetNestedSlice(chg.Object, approvals, "spec", "approvals")).To(Succeed())
		Expect(env.Client.Update(ctx, chg)).To(Succeed())

		// Nobody can remove or flip an approval.
		flipped := chg.DeepCopy()
		Expect(unstructured.SetNestedSlice(flipped.Object, []any{
			map[string]any{"approver": "alice", "decision": "Reject"}, approvals[1],
		}, "spec", "approvals")).To(Succeed())
		expectInvalid(env.Client.Update(ctx, flipped), "spec.approvals is append-only")

		removed := chg.DeepCopy()
		Expect(unstructured.SetNestedSlice(removed.Object, approvals[1:], "spec", "approvals")).To(Succeed())
		expectInvalid(env.Client.Update(ctx, removed), "spec.approvals is append-only")

		// A new decision on revised content (a newer generation) replaces the old one.
		revised := chg.DeepCopy()
		Expect(unstructured.SetNestedSlice(revised.Object, []any{
			map[string]any{"approver": "alice", "decision": "Reject", "generation": int64(5)}, approvals[1],
		}, "spec", "approvals")).To(Succeed())
		Expect(env.Client.Update(ctx, revised)).To(Succeed())
	})

	It("keep the record of a change's content editors, also without the webhooks", func() {
		ns := newNamespace()
		chg := object(`{apiVersion: itops.dev/v1alpha1, kind: ChangeRequest, metadata: {name: x}, spec: {title: t,
			editedBy: [{user: bob, generation: 2}]}}`, ns)
		Expect(env.Client.Create(ctx, chg)).To(Succeed())

		removed := chg.DeepCopy()
		unstructured.RemoveNestedField(removed.Object, "spec", "editedBy")
		expectInvalid(env.Client.Update(ctx, removed), "spec.editedBy is the record of who edited this change's content: entries cannot be removed")
		renamed := chg.DeepCopy()
		Expect(unstructured.SetNestedSlice(renamed.Object, []any{map[string]any{"user": "carol", "generation": int64(2)}}, "spec", "editedBy")).To(Succeed())
		expectInvalid(env.Client.Update(ctx, renamed), "spec.editedBy is the record of who edited this change's content")

		// A later edit by bob and a new editor are recorded.
		grown := chg.DeepCopy()
		Expect(unstructured.SetNestedSlice(grown.Object, []any{
			map[string]any{"user": "bob", "generation": int64(4)}, map[string]any{"user": "dave", "generation": int64(3)},
		}, "spec", "editedBy")).To(Succeed())
		Expect(env.Client.Update(ctx, grown)).To(Succeed())
	})
})

var _ = Describe("Discovery", func() {
	It("serves all four kinds with their short names in the itops category", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		Expect(err).NotTo(HaveOccurred())
		list, err := dc.ServerResourcesForGroupVersion(itopsv1alpha1.GroupVersion.String())
		Expect(err).NotTo(HaveOccurred())
		short := map[string][]string{}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			Expect(r.Namespaced).To(BeTrue(), r.Name)
			Expect(r.Categories).To(ContainElement("itops"), r.Name)
			short[r.Kind] = r.ShortNames
		}
		Expect(short).To(Equal(map[string][]string{
			"Incident": {"inc"}, "ChangeRequest": {"chg"}, "MaintenanceWindow": {"mw"}, "ServiceLevel": {"sl"},
		}))
	})
})
