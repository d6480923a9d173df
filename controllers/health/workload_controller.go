// Package health watches cluster health and keeps one Incident per affected thing: a workload
// (its pods rolled up through any chain of controllers: Deployments, StatefulSets,
// DaemonSets, CronJobs, bare Jobs and Pods, bare ReplicaSets, Argo Rollouts, any custom
// resource), a Node, a PersistentVolumeClaim. Every problem seen on it is a signal of that
// incident (written through controllers/incidentwriter). A workload whose not-ready pods all
// run on NotReady nodes is linked to the node's incident as a symptom.
package health

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/readaccess"
	"github.com/itops-dev/itops-operator/internal/selector"
)

// podReasons are the problems judged on a workload's pods and rolled up to it.
var podReasons = []string{
	itopsv1alpha1.ReasonCrashLoopBackOff, itopsv1alpha1.ReasonImagePullBackOff,
	itopsv1alpha1.ReasonCreateContainerConfigError, itopsv1alpha1.ReasonOOMKilled,
	itopsv1alpha1.ReasonCreateContainerError, itopsv1alpha1.ReasonRunContainerError, itopsv1alpha1.ReasonPreStartHookError,
	itopsv1alpha1.ReasonPodUnschedulable, itopsv1alpha1.ReasonVolumeMountFailed, itopsv1alpha1.ReasonProbeFailing,
	itopsv1alpha1.ReasonContainerRestarting,
}

// nodeNameIndex indexes pods by spec.nodeName: a node's incident changing re-judges the
// workloads with pods there.
const nodeNameIndex = "spec.nodeName"

// inputs is what a workload is judged on.
type inputs struct {
	obj  client.Object
	pods []corev1.Pod
	// jobs are a CronJob's Jobs.
	jobs []batchv1.Job
	// events are the Warning Events of the workload (and of a Deployment's ReplicaSets).
	events []health.Event
	now    time.Time
	t      health.Thresholds
}

// workloadKind adapts one kind of workload to the shared detector.
type workloadKind struct {
	kind       string
	apiVersion string
	newObject  func() client.Object
	// evaluate judges the workload itself; the second result is when to look again because a
	// grace period ends (zero: no such boundary).
	evaluate func(in inputs) ([]health.Problem, time.Time)
	// selector of the workload's pods; nil to consider every pod of the namespace that rolls
	// up to the workload (CronJobs, bare Pods).
	selector func(obj client.Object) *metav1.LabelSelector
	// reasons judged on the workload itself, besides podReasons.
	reasons []string
}

var workloadKinds = []workloadKind{
	{
		kind: "Deployment", apiVersion: "apps/v1",
		newObject: func() client.Object { return &appsv1.Deployment{} },
		evaluate: func(in inputs) ([]health.Problem, time.Time) {
			d := in.obj.(*appsv1.Deployment)
			problems, recheck := health.DeploymentProblems(d, in.now, in.t)
			return creationFailed(problems, recheck, deploymentCreationFailure(d, in.events, in.now), in)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*appsv1.Deployment).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonWorkloadUnavailable, itopsv1alpha1.ReasonRolloutStuck, itopsv1alpha1.ReasonPodCreationFailed},
	},
	{
		kind: "StatefulSet", apiVersion: "apps/v1",
		newObject: func() client.Object { return &appsv1.StatefulSet{} },
		evaluate: func(in inputs) ([]health.Problem, time.Time) {
			s := in.obj.(*appsv1.StatefulSet)
			desired := int32(1)
			if s.Spec.Replicas != nil {
				desired = *s.Spec.Replicas
			}
			problems, recheck := shortfall(health.ReplicaShortfall{Kind: "StatefulSet", Name: s.Name, Ready: s.Status.ReadyReplicas,
				Desired: desired, NotReadyPodSince: notReadySince(in.pods, s.CreationTimestamp.Time)}, in.now, in.t)
			return creationFailed(problems, recheck, health.CreationFailure{Kind: "StatefulSet", Name: s.Name, Events: in.events,
				Satisfied: s.Status.Replicas >= desired}, in)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*appsv1.StatefulSet).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonWorkloadUnavailable, itopsv1alpha1.ReasonPodCreationFailed},
	},
	{
		kind: "DaemonSet", apiVersion: "apps/v1",
		newObject: func() client.Object { return &appsv1.DaemonSet{} },
		evaluate: func(in inputs) ([]health.Problem, time.Time) {
			d := in.obj.(*appsv1.DaemonSet)
			problems, recheck := shortfall(health.ReplicaShortfall{Kind: "DaemonSet", Name: d.Name, Ready: d.Status.NumberReady,
				Desired: d.Status.DesiredNumberScheduled, Tolerated: daemonSetMaxUnavailable(d),
				NotReadyPodSince: notReadySince(in.pods, d.CreationTimestamp.Time)}, in.now, in.t)
			return creationFailed(problems, recheck, health.CreationFailure{Kind: "DaemonSet", Name: d.Name, Events: in.events,
				Satisfied: d.Status.CurrentNumberScheduled >= d.Status.DesiredNumberScheduled}, in)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*appsv1.DaemonSet).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonWorkloadUnavailable, itopsv1alpha1.ReasonPodCreationFailed},
	},
	{
		// CronJobs are judged by their latest finished run: a failure is a JobFailed signal,
		// a later success clears it, a later failure recurs on the same incident.
		kind: "CronJob", apiVersion: "batch/v1",
		newObject: func() client.Object { return &batchv1.CronJob{} },
		evaluate: func(in inputs) ([]health.Problem, time.Time) {
			return health.CronJobProblems(in.obj.(*batchv1.CronJob), in.jobs), time.Time{}
		},
		reasons: []string{itopsv1alpha1.ReasonJobFailed},
	},
	{
		// Jobs without a controller (a CronJob's Jobs roll up to it).
		kind: "Job", apiVersion: "batch/v1",
		newObject: func() client.Object { return &batchv1.Job{} },
		evaluate: func(in inputs) ([]health.Problem, time.Time) {
			j := in.obj.(*batchv1.Job)
			return creationFailed(health.JobProblems(j), time.Time{}, health.CreationFailure{Kind: "Job", Name: j.Name, Events: in.events,
				Satisfied: jobHasItsPods(j)}, in)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*batchv1.Job).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonJobFailed, itopsv1alpha1.ReasonPodCreationFailed},
	},
	{
		// Pods without a controller are their own subject.
		kind: "Pod", apiVersion: "v1",
		newObject: func() client.Object { return &corev1.Pod{} },
		evaluate:  func(inputs) ([]health.Problem, time.Time) { return nil, time.Time{} },
	},
}

// typedKinds are the subjects judged by a typed detector; pods rolling up to anything else
// (bare ReplicaSets, Argo Rollouts, custom resources) are judged by the generic one.
var typedKinds = map[string]bool{
	"apps/Deployment": true, "apps/StatefulSet": true, "apps/DaemonSet": true,
	"batch/CronJob": true, "batch/Job": true, "/Pod": true,
}

func isTyped(s health.Subject) bool { return typedKinds[s.Group()+"/"+s.Kind] }

// builtInController reports a controller of a built-in group (apps, batch, core), which the
// operator may always read.
func builtInController(ref *metav1.OwnerReference) bool {
	switch (health.Subject{APIVersion: ref.APIVersion}).Group() {
	case "", "apps", "batch":
		return true
	}
	return false
}

// notReadySince dates a shortfall from the earliest not-ready pod; when no pod explains it
// (pods that cannot be created: quota, admission, a missing ServiceAccount), from the
// workload's creation, so that the grace period has a fixed end.
func notReadySince(pods []corev1.Pod, created time.Time) time.Time {
	if since := health.NotReadySince(pods); !since.IsZero() {
		return since
	}
	return created
}

// daemonSetMaxUnavailable is how many not-ready pods a DaemonSet's rolling update tolerates
// (default 1): a node being replaced is not an outage.
func daemonSetMaxUnavailable(d *appsv1.DaemonSet) int32 {
	ru := d.Spec.UpdateStrategy.RollingUpdate
	if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, int(d.Status.DesiredNumberScheduled), true)
	if err != nil || n < 0 {
		return 1
	}
	return int32(n) //nolint:gosec // bounded by DesiredNumberScheduled
}

func shortfall(s health.ReplicaShortfall, now time.Time, t health.Thresholds) ([]health.Problem, time.Time) {
	p, recheck := health.ShortfallProblem(s, now, t)
	if p == nil {
		return nil, recheck
	}
	return []health.Problem{*p}, recheck
}

// detector is what the workload detectors share: the writer, thresholds and the roll-up.
type detector struct {
	client.Client
	Writer     *incidentwriter.Writer
	Thresholds health.Thresholds
	// Access says whether an owner kind may be read before the cache is asked for it (a
	// cache read of a kind the operator may not list waits until its context ends).
	Access *readaccess.Checker
	// Restarts are the containers' observed restart counts ContainerRestarting is judged on,
	// shared by the detectors; a pod's are forgotten when it is deleted (Setup).
	Restarts *health.RestartHistory
}

// WorkloadReconciler detects problems of one kind of workload and of the pods rolled up to it.
type WorkloadReconciler struct {
	detector
	kind workloadKind
}

// The health detectors read everything they judge from the cache. Rolling pods up through
// other controllers (Argo Rollouts, operators' custom resources) reads their metadata through
// the aggregated itops-operator-owner-reader ClusterRole (config/rbac/owner_reader_role.yaml):
// the kinds an administrator grants there, never every kind (docs/incidents.md, "Owner kinds").
// +kubebuilder:rbac:groups="",resources=pods;nodes;persistentvolumeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets;replicasets,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels,verbs=get;list;watch

// Reconcile judges the workload and its pods and syncs the incident of the thing they roll up to.
func (r *WorkloadReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	self := health.Subject{APIVersion: r.kind.apiVersion, Kind: r.kind.kind, Namespace: req.Namespace, Name: req.Name}
	now := r.Writer.Now()
	obj := r.kind.newObject()
	obs := incidentwriter.Observation{Subject: self, Judged: append(append([]string(nil), r.kind.reasons...), podReasons...)}
	var recheck time.Time
	var pods []corev1.Pod
	switch err := r.Get(ctx, req.NamespacedName, obj); {
	case apierrors.IsNotFound(err):
		// Gone: whatever was wrong with it is over.
	case err != nil:
		return ctrl.Result{}, err
	default:
		top, err := health.Rollup(obj, r.kind.apiVersion, r.kind.kind, r.lookup(ctx))
		if err != nil {
			return ctrl.Result{}, err
		}
		if top != self {
			// Owned by something else (a Deployment by an operator's resource, a Job by a
			// CronJob): its own problems are signals of that thing's incident, its pods are
			// judged there.
			if r.kind.kind == "Pod" {
				return ctrl.Result{}, nil
			}
			if r.kind.kind == "Job" {
				// An earlier version opened an incident per run Job: the CronJob's incident
				// follows the problem now.
				return retryQuietly(r.Writer.RecoverLegacy(ctx, self, r.kind.reasons))
			}
			obs.Subject, obs.Judged = top, r.kind.reasons
		}
		in := inputs{obj: obj, now: now, t: r.Thresholds}
		if in.pods, err = r.podsOf(ctx, obj, obs.Subject); err != nil {
			return ctrl.Result{}, err
		}
		if r.kind.kind == "CronJob" {
			if in.jobs, err = r.jobsOf(ctx, obj); err != nil {
				return ctrl.Result{}, err
			}
		}
		if r.kind.kind != "Pod" && r.kind.kind != "CronJob" {
			if in.events, err = r.workloadEvents(ctx, obj, r.kind.kind); err != nil {
				return ctrl.Result{}, err
			}
		}
		pods = in.pods
		obs.Problems, recheck = r.kind.evaluate(in)
		var shown *corev1.Pod
		var podEvents map[string][]health.Event
		if obs.Subject == self {
			if podEvents, err = r.podEvents(ctx, in.pods); err != nil {
				return ctrl.Result{}, err
			}
			var podProblems []health.Problem
			var podRecheck time.Time
			podProblems, podRecheck, shown = rollUp(in.pods, podEvents, r.Restarts, now, r.Thresholds)
			obs.Problems = append(obs.Problems, podProblems...)
			recheck = earliest(recheck, podRecheck)
		}
		if obs.Evidence, err = r.evidence(ctx, shown, podEvents, in.events, obs.Problems, now); err != nil {
			return ctrl.Result{}, err
		}
		obs.Logs = health.CrashLogTarget(shown, obs.Evidence)
		if obs.Service, err = serviceFor(ctx, r.Client, req.Namespace, obj.GetLabels()); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.judgeCause(ctx, &obs, pods); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Writer.Sync(ctx, obs); err != nil {
		return retryQuietly(err)
	}
	return requeueAt(recheck, now), nil
}

// retryQuietly retries a write that lost a race (an optimistic-lock conflict with the
// incident controller, or an incident another detector of the same subject just created)
// at once and without an error log; other errors go to the backoff.
func retryQuietly(err error) (ctrl.Result, error) {
	if incidentwriter.IsRace(err) {
		return ctrl.Result{RequeueAfter: raceRetry}, nil
	}
	return ctrl.Result{}, err
}

// raceRetry is how soon a write that lost a race is tried again.
const raceRetry = 100 * time.Millisecond

func requeueAt(at, now time.Time) ctrl.Result {
	if at.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: at.Sub(now)}
}

// judgeCause links the subject's incident to a node incident that explains it (every
// not-ready pod on a NotReady node, or unschedulable because nodes are lost: health.NodeCause),
// when it has problems.
func (d *detector) judgeCause(ctx context.Context, obs *incidentwriter.Observation, pods []corev1.Pod) error {
	if len(obs.Problems) == 0 {
		// Recovered: the incident keeps the cause it had (a recovered symptom stays one and
		// never counts as a page of its own).
		return nil
	}
	obs.CauseJudged = true
	down := map[string]*itopsv1alpha1.IncidentReference{}
	for i := range pods {
		node := pods[i].Spec.NodeName
		if _, done := down[node]; done || node == "" {
			continue
		}
		ref, err := d.Writer.OpenIncidentWith(ctx, health.Subject{APIVersion: "v1", Kind: "Node", Name: node}, itopsv1alpha1.ReasonNodeNotReady)
		if err != nil {
			return err
		}
		down[node] = ref
	}
	capacityLost, err := d.Writer.FirstOpenNodeNotReady(ctx)
	if err != nil {
		return err
	}
	obs.Cause, _ = health.NodeCause(pods, func(node string) *itopsv1alpha1.IncidentReference { return down[node] }, capacityLost)
	return nil
}

// lookup returns the controller of an object from the cache: typed reads for the kinds the
// detectors already watch, metadata-only reads (PartialObjectMetadata) for any other kind
// the operator may list and watch (health.ErrOwnerNotReadable for the others, so that the
// roll-up stops below them instead of waiting on an informer that can never sync).
func (d *detector) lookup(ctx context.Context) health.OwnerLookup {
	return func(namespace string, ref metav1.OwnerReference) (*metav1.OwnerReference, bool, error) {
		var obj client.Object
		gk := health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind}
		switch gk.Group() + "/" + gk.Kind {
		case "apps/Deployment":
			obj = &appsv1.Deployment{}
		case "apps/StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "apps/DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "batch/Job":
			obj = &batchv1.Job{}
		case "batch/CronJob":
			obj = &batchv1.CronJob{}
		default:
			switch readable, err := d.Access.CanList(ctx, schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)); {
			case isNoMatch(err):
				return nil, false, nil
			case err != nil:
				return nil, false, err
			case !readable:
				return nil, false, health.ErrOwnerNotReadable
			}
			m := &metav1.PartialObjectMetadata{}
			m.APIVersion, m.Kind = ref.APIVersion, ref.Kind
			obj = m
		}
		err := d.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj)
		switch {
		case apierrors.IsNotFound(err) || isNoMatch(err):
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		if obj.GetUID() != "" && ref.UID != "" && obj.GetUID() != ref.UID {
			return nil, false, nil // a namesake, not the owner
		}
		return metav1.GetControllerOfNoCopy(obj), true, nil
	}
}

// podSubject is the thing a pod rolls up to.
func (d *detector) podSubject(ctx context.Context, pod *corev1.Pod) (health.Subject, error) {
	return health.Rollup(pod, "v1", "Pod", d.lookup(ctx))
}

// podsOf returns the pods that roll up to subj (the workload self, or what owns it).
func (r *WorkloadReconciler) podsOf(ctx context.Context, obj client.Object, subj health.Subject) ([]corev1.Pod, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		return []corev1.Pod{*pod}, nil
	}
	opts := []client.ListOption{client.InNamespace(obj.GetNamespace())}
	if r.kind.selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(r.kind.selector(obj))
		if err != nil || sel.Empty() {
			return nil, nil //nolint:nilerr // an invalid or empty selector selects no pods to judge
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	list := &corev1.PodList{}
	if err := r.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	return r.podsRollingUpTo(ctx, list.Items, subj)
}

// podsRollingUpTo keeps the pods that roll up to subj.
func (d *detector) podsRollingUpTo(ctx context.Context, pods []corev1.Pod, subj health.Subject) ([]corev1.Pod, error) {
	out := pods[:0]
	for i := range pods {
		s, err := d.podSubject(ctx, &pods[i])
		if err != nil {
			return nil, err
		}
		if s == subj {
			out = append(out, pods[i])
		}
	}
	// Completed or evicted pods already replaced, and DaemonSet pods of nodes that are gone,
	// are normal: they do not count towards the subject's health (internal/health/normal.go).
	return withoutNormalPods(ctx, d.Client, out)
}

// jobsOf returns the Jobs a CronJob controls.
func (r *WorkloadReconciler) jobsOf(ctx context.Context, obj client.Object) ([]batchv1.Job, error) {
	list := &batchv1.JobList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, j := range list.Items {
		if ref := metav1.GetControllerOfNoCopy(&j); ref != nil && ref.Kind == "CronJob" && ref.Name == obj.GetName() &&
			(ref.UID == "" || ref.UID == obj.GetUID()) {
			out = append(out, j)
		}
	}
	return out, nil
}

// maxPodsListed bounds the pods named in one signal's message.
const maxPodsListed = 5

// rollUp merges the pods' problems into one problem per reason that names the pods. events
// are each pod's Warning Events, by pod name; restarts records and gives the containers'
// observed restart counts (nil: none kept). The third result is the first pod (by name)
// that shows a problem outright: the evidence is taken from it.
func rollUp(pods []corev1.Pod, events map[string][]health.Event, restarts *health.RestartHistory, now time.Time, t health.Thresholds) ([]health.Problem, time.Time, *corev1.Pod) {
	type acc struct {
		p     health.Problem
		lines []string
		count int
	}
	byReason := map[string]*acc{}
	var recheck time.Time
	var shown *corev1.Pod
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		pod := &pods[i]
		recheck = earliest(recheck, health.PodRecheck(pod, now, t))
		eventProblems, eventRecheck := health.PodEventProblems(pod, events[pod.Name], restarts.Observe(pod, now), now, t)
		recheck = earliest(recheck, eventRecheck)
		for _, p := range append(health.PodProblems(pod, now, t), eventProblems...) {
			if shown == nil && !p.Sustain {
				shown = pod
			}
			a, ok := byReason[p.Reason]
			if !ok {
				a = &acc{p: health.Problem{Reason: p.Reason, Since: p.Since, Sustain: true}}
				byReason[p.Reason] = a
			}
			// One pod that shows the problem outright is enough to open an incident.
			a.p.Sustain = a.p.Sustain && p.Sustain
			a.count++
			if len(a.lines) < maxPodsListed {
				a.lines = append(a.lines, fmt.Sprintf("pod %s: %s", pod.Name, p.Message))
			}
			if !p.Since.IsZero() && (a.p.Since.IsZero() || p.Since.Before(a.p.Since)) {
				a.p.Since = p.Since
			}
		}
	}
	out := make([]health.Problem, 0, len(byReason))
	for _, reason := range podReasons {
		a, ok := byReason[reason]
		if !ok {
			continue
		}
		msg := fmt.Sprintf("%d of %d pods: %s", a.count, len(pods), strings.Join(a.lines, "; "))
		if a.count > len(a.lines) {
			msg += fmt.Sprintf("; and %d more", a.count-len(a.lines))
		}
		a.p.Message = msg
		out = append(out, a.p)
	}
	return out, recheck, shown
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// serviceFor returns the name of the first ServiceLevel (by name) in the namespace whose
// selector matches the workload's labels, or "".
func serviceFor(ctx context.Context, c client.Reader, ns string, objLabels map[string]string) (string, error) {
	list := &itopsv1alpha1.ServiceLevelList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return "", err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for _, sl := range list.Items {
		if errs := selector.ServiceLevel(&sl.Spec); len(errs) > 0 {
			// Stalled (InvalidSelector) on the ServiceLevel itself: it names no service until
			// fixed; said here too, so an incident without its service is explained.
			ctrl.LoggerFrom(ctx).Info("ServiceLevel has an invalid selector; it is not considered as the workload's service",
				"namespace", ns, "serviceLevel", sl.Name, "error", errs.ToAggregate().Error())
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&sl.Spec.Selector)
		if err != nil {
			continue
		}
		if sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(objLabels)) {
			return sl.Name, nil
		}
	}
	return "", nil
}

// setup registers the detector of one workload kind: it watches the kind, the pods that roll
// up to it, its incidents, and the node incidents of the nodes its pods run on.
func (r *WorkloadReconciler) setup(mgr ctrl.Manager) error {
	kind := r.kind.kind
	b := ctrl.NewControllerManagedBy(mgr).Named("health-"+strings.ToLower(kind)).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject(func(s health.Subject) bool { return s.Kind == kind && isTyped(s) }),
			builder.WithPredicates(incidentAppeared)).
		Watches(&itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(r.workloadsOnNode(kind)), builder.WithPredicates(nodeIncidentChanged))
	switch kind {
	case "Pod":
		// Pods without a controller, and pods whose controller is not a built-in one: a kind
		// the operator may not read leaves the pod its own subject.
		b = b.For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			ref := metav1.GetControllerOf(o)
			return ref == nil || !builtInController(ref)
		})))
	case "Job":
		b = b.For(&batchv1.Job{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return metav1.GetControllerOf(o) == nil
		})))
	default:
		b = b.For(r.kind.newObject())
	}
	if kind == "CronJob" {
		b = b.Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "CronJob" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}}}
			}
			return nil
		}))
	}
	// Warning Events a detector judges (mount and sandbox failures, probe failures, a
	// controller's FailedCreate) re-judge the subject their object rolls up to.
	b = b.Watches(&corev1.Event{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		e, ok := o.(*corev1.Event)
		if !ok {
			return nil
		}
		if subj, ok := r.eventSubject(ctx, e); ok && subj.Kind == kind && isTyped(subj) {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: subj.Namespace, Name: subj.Name}}}
		}
		return nil
	}), builder.WithPredicates(detectorEvent))
	if kind != "Pod" {
		b = b.Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			pod, ok := o.(*corev1.Pod)
			if !ok {
				return nil
			}
			subj, err := r.podSubject(ctx, pod)
			if err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "rolling a pod up to its workload", "pod", client.ObjectKeyFromObject(pod))
				return nil
			}
			if subj.Kind == kind && isTyped(subj) {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: subj.Namespace, Name: subj.Name}}}
			}
			return nil
		}))
	}
	return b.Complete(r)
}

// workloadsOnNode maps a node's incident to the workloads of kind with pods on that node.
func (d *detector) workloadsOnNode(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, subj := range d.subjectsOfNodeIncident(ctx, o) {
			if subj.Kind == kind && isTyped(subj) {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: subj.Namespace, Name: subj.Name}})
			}
		}
		return out
	}
}

// subjectsOfNodeIncident returns, once each, the subjects the pods on a node's incident's
// node roll up to (nil for any other object). Read from the cache by the pod index by node.
func (d *detector) subjectsOfNodeIncident(ctx context.Context, o client.Object) []health.Subject {
	inc, ok := o.(*itopsv1alpha1.Incident)
	if !ok || len(inc.Spec.Affected) == 0 || inc.Spec.Affected[0].Kind != "Node" {
		return nil
	}
	pods := &corev1.PodList{}
	if err := d.List(ctx, pods, client.MatchingFields{nodeNameIndex: inc.Spec.Affected[0].Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the pods of a node", "node", inc.Spec.Affected[0].Name)
		return nil
	}
	seen := map[health.Subject]bool{}
	var out []health.Subject
	for i := range pods.Items {
		subj, err := d.podSubject(ctx, &pods.Items[i])
		if err != nil || seen[subj] {
			continue
		}
		seen[subj] = true
		out = append(out, subj)
	}
	return out
}

// nodeIncidentChanged passes node incidents as they open and as their phase or signals change.
var nodeIncidentChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return isNodeIncident(e.Object) },
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldInc, ok1 := e.ObjectOld.(*itopsv1alpha1.Incident)
		newInc, ok2 := e.ObjectNew.(*itopsv1alpha1.Incident)
		return ok1 && ok2 && isNodeIncident(newInc) &&
			(oldInc.Status.Phase != newInc.Status.Phase || health.AnyActive(oldInc.Status.Signals) != health.AnyActive(newInc.Status.Signals) ||
				len(oldInc.Status.Signals) != len(newInc.Status.Signals))
	},
	DeleteFunc:  func(e event.DeleteEvent) bool { return isNodeIncident(e.Object) },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func isNodeIncident(o client.Object) bool {
	inc, ok := o.(*itopsv1alpha1.Incident)
	return ok && inc.Spec.Source == itopsv1alpha1.SourceHealthCheck && len(inc.Spec.Affected) > 0 && inc.Spec.Affected[0].Kind == "Node"
}

// incidentAppeared passes incidents as they enter the cache: on start-up that is every
// incident, so subjects deleted while the operator was down get their incidents recovered.
var incidentAppeared = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return true },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// incidentSubject maps a health-check incident to its subject, for the detector whose
// subjects match.
func incidentSubject(match func(health.Subject) bool) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		inc, ok := o.(*itopsv1alpha1.Incident)
		if !ok || inc.Spec.Source != itopsv1alpha1.SourceHealthCheck || len(inc.Spec.Affected) == 0 {
			return nil
		}
		ref := inc.Spec.Affected[0]
		if !match(health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
	})
}
