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
	"github.com/itops-dev/itops-operator/internal/health"
)

// podReasons are the problems judged on a workload's pods and rolled up to it.
var podReasons = []string{
	itopsv1alpha1.ReasonCrashLoopBackOff, itopsv1alpha1.ReasonImagePullBackOff,
	itopsv1alpha1.ReasonCreateContainerConfigError, itopsv1alpha1.ReasonOOMKilled,
}

// workloadKind adapts one kind of workload to the shared detector.
type workloadKind struct {
	kind       string
	apiVersion string
	newObject  func() client.Object
	// evaluate judges the workload itself; the second result is when to look again because a
	// grace period ends (zero: no such boundary).
	evaluate func(obj client.Object, pods []corev1.Pod, now time.Time, t health.Thresholds) ([]health.Problem, time.Time)
	// selector of the workload's pods; nil for kinds without pods (or a Pod itself).
	selector func(obj client.Object) *metav1.LabelSelector
	// reasons judged on the workload itself, besides podReasons.
	reasons []string
}

var workloadKinds = []workloadKind{
	{
		kind: "Deployment", apiVersion: "apps/v1",
		newObject: func() client.Object { return &appsv1.Deployment{} },
		evaluate: func(obj client.Object, _ []corev1.Pod, now time.Time, t health.Thresholds) ([]health.Problem, time.Time) {
			return health.DeploymentProblems(obj.(*appsv1.Deployment), now, t)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*appsv1.Deployment).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonWorkloadUnavailable, itopsv1alpha1.ReasonRolloutStuck},
	},
	{
		kind: "StatefulSet", apiVersion: "apps/v1",
		newObject: func() client.Object { return &appsv1.StatefulSet{} },
		evaluate: func(obj client.Object, pods []corev1.Pod, now time.Time, t health.Thresholds) ([]health.Problem, time.Time) {
			s := obj.(*appsv1.StatefulSet)
			desired := int32(1)
			if s.Spec.Replicas != nil {
				desired = *s.Spec.Replicas
			}
			return shortfall(health.ReplicaShortfall{Kind: "StatefulSet", Name: s.Name, Ready: s.Status.ReadyReplicas,
				Desired: desired, NotReadyPodSince: notReadySince(pods, s.CreationTimestamp.Time)}, now, t)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*appsv1.StatefulSet).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonWorkloadUnavailable},
	},
	{
		kind: "DaemonSet", apiVersion: "apps/v1",
		newObject: func() client.Object { return &appsv1.DaemonSet{} },
		evaluate: func(obj client.Object, pods []corev1.Pod, now time.Time, t health.Thresholds) ([]health.Problem, time.Time) {
			d := obj.(*appsv1.DaemonSet)
			return shortfall(health.ReplicaShortfall{Kind: "DaemonSet", Name: d.Name, Ready: d.Status.NumberReady,
				Desired: d.Status.DesiredNumberScheduled, Tolerated: daemonSetMaxUnavailable(d),
				NotReadyPodSince: notReadySince(pods, d.CreationTimestamp.Time)}, now, t)
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*appsv1.DaemonSet).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonWorkloadUnavailable},
	},
	{
		kind: "Job", apiVersion: "batch/v1",
		newObject: func() client.Object { return &batchv1.Job{} },
		evaluate: func(obj client.Object, _ []corev1.Pod, _ time.Time, _ health.Thresholds) ([]health.Problem, time.Time) {
			return health.JobProblems(obj.(*batchv1.Job)), time.Time{}
		},
		selector: func(obj client.Object) *metav1.LabelSelector { return obj.(*batchv1.Job).Spec.Selector },
		reasons:  []string{itopsv1alpha1.ReasonJobFailed},
	},
	{
		// Pods without a controller are their own subject.
		kind: "Pod", apiVersion: "v1",
		newObject: func() client.Object { return &corev1.Pod{} },
		evaluate: func(client.Object, []corev1.Pod, time.Time, health.Thresholds) ([]health.Problem, time.Time) {
			return nil, time.Time{}
		},
	},
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

// podSubject rolls a pod up to its workload without a ReplicaSet cache: a Deployment's
// ReplicaSets are named <deployment>-<pod-template-hash>, and the pod carries the hash.
func podSubject(pod *corev1.Pod) health.Subject {
	return health.PodSubject(pod, func(rsName string) *metav1.OwnerReference {
		hash := pod.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if hash == "" || !strings.HasSuffix(rsName, "-"+hash) {
			return nil
		}
		return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: strings.TrimSuffix(rsName, "-"+hash)}
	})
}

// WorkloadReconciler detects problems of one kind of workload and of the pods rolled up to it.
type WorkloadReconciler struct {
	client.Client
	Syncer     *Syncer
	Thresholds health.Thresholds
	kind       workloadKind
}

// +kubebuilder:rbac:groups="",resources=pods;nodes;persistentvolumeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=itops.dev,resources=servicelevels,verbs=get;list;watch

// Reconcile judges the workload and its pods and syncs the workload's incidents.
func (r *WorkloadReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	subj := health.Subject{APIVersion: r.kind.apiVersion, Kind: r.kind.kind, Namespace: req.Namespace, Name: req.Name}
	now := r.Syncer.now()
	obj := r.kind.newObject()
	var problems []health.Problem
	var recheck time.Time
	service := ""
	switch err := r.Get(ctx, req.NamespacedName, obj); {
	case apierrors.IsNotFound(err):
		// Gone: whatever was wrong with it is over.
	case err != nil:
		return ctrl.Result{}, err
	default:
		pods, err := r.podsOf(ctx, obj, subj)
		if err != nil {
			return ctrl.Result{}, err
		}
		problems, recheck = r.kind.evaluate(obj, pods, now, r.Thresholds)
		podProblems, podRecheck := rollUp(pods, now, r.Thresholds)
		problems = append(problems, podProblems...)
		recheck = earliest(recheck, podRecheck)
		if service, err = serviceFor(ctx, r.Client, req.Namespace, obj.GetLabels()); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.Syncer.Sync(ctx, subj, append(append([]string(nil), r.kind.reasons...), podReasons...), problems, service); err != nil {
		return ctrl.Result{}, err
	}
	if recheck.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: recheck.Sub(now)}, nil
}

// podsOf returns the pods that roll up to the workload.
func (r *WorkloadReconciler) podsOf(ctx context.Context, obj client.Object, subj health.Subject) ([]corev1.Pod, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		if metav1.GetControllerOf(pod) != nil {
			return nil, nil // judged with its workload
		}
		return []corev1.Pod{*pod}, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(r.kind.selector(obj))
	if err != nil || sel.Empty() {
		return nil, nil //nolint:nilerr // an invalid or empty selector selects no pods to judge
	}
	list := &corev1.PodList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	pods := list.Items[:0]
	for _, p := range list.Items {
		if podSubject(&p) == subj {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// maxPodsListed bounds the pods named in one incident's description.
const maxPodsListed = 5

// rollUp merges the pods' problems into one problem per reason that names the pods.
func rollUp(pods []corev1.Pod, now time.Time, t health.Thresholds) ([]health.Problem, time.Time) {
	type acc struct {
		p     health.Problem
		lines []string
		count int
	}
	byReason := map[string]*acc{}
	var recheck time.Time
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		pod := &pods[i]
		recheck = earliest(recheck, health.PodRecheck(pod, now, t))
		for _, p := range health.PodProblems(pod, now, t) {
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
	return out, recheck
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
		sel, err := metav1.LabelSelectorAsSelector(&sl.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(objLabels)) {
			return sl.Name, nil
		}
	}
	return "", nil
}

// setup registers the detector of one workload kind: it watches the kind and the pods that
// roll up to it.
func (r *WorkloadReconciler) setup(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).Named("health-" + strings.ToLower(r.kind.kind))
	if r.kind.kind == "Pod" {
		return b.For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return metav1.GetControllerOf(o) == nil
		}))).
			Watches(&itopsv1alpha1.Incident{}, incidentSubject("Pod"), builder.WithPredicates(incidentAppeared)).
			Complete(r)
	}
	kind := r.kind.kind
	return b.For(r.kind.newObject()).
		Watches(&itopsv1alpha1.Incident{}, incidentSubject(kind), builder.WithPredicates(incidentAppeared)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			pod, ok := o.(*corev1.Pod)
			if !ok {
				return nil
			}
			if subj := podSubject(pod); subj.Kind == kind {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: subj.Namespace, Name: subj.Name}}}
			}
			return nil
		})).
		Complete(r)
}

// incidentAppeared passes incidents as they enter the cache: on start-up that is every
// incident, so subjects deleted while the operator was down get their incidents recovered.
var incidentAppeared = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return true },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// incidentSubject maps a health-check incident to its subject, for the detector of kind.
func incidentSubject(kind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		inc, ok := o.(*itopsv1alpha1.Incident)
		if !ok || inc.Spec.Source != itopsv1alpha1.SourceHealthCheck || len(inc.Spec.Affected) == 0 || inc.Spec.Affected[0].Kind != kind {
			return nil
		}
		ref := inc.Spec.Affected[0]
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
	})
}
