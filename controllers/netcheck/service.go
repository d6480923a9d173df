package netcheck

import (
	"context"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/detector/custom"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/netcheck"
	"github.com/itops-dev/itops-operator/internal/priority"
	"github.com/itops-dev/itops-operator/internal/selector"
)

// ServiceReconciler runs ServiceWithoutEndpoints: a Service with a selector whose
// EndpointSlices list no ready endpoint for the grace period opens (or joins) the Service's
// incident; where its not-ready pods belong to a workload with an open incident, the
// Service's incident is that one's symptom (status.causedBy).
type ServiceReconciler struct {
	// Reader reads the network detectors' cache (Services, EndpointSlices).
	Reader client.Reader
	// Client reads the manager's cache: Pods, workloads, ServiceLevels, Incidents.
	Client client.Client
	Writer *incidentwriter.Writer
	Policy config.ServicesWithoutEndpointsPolicy
	Clock  clock.PassiveClock
	// Called reports whether the API server calls the Service (a webhook's, a conversion
	// webhook's, an aggregated API's; nil: never). Such a Service's incident also carries
	// WebhookUnavailable, which is the cluster's problem and not a symptom of its workload's:
	// it is not linked to a cause, so it pages at its own priority.
	Called func(ctx context.Context, namespace, name string) (bool, error)

	seen firstSeen
}

// SetupWithManager watches Services and their EndpointSlices, the incidents of other
// subjects (a workload's incident opening or resolving re-judges the cause of the Services
// of its namespace that have one; causeTransitions) and ServiceLevels (which Services they
// cover: created, deleted, or their spec changed; status writes do not re-judge).
func (r *ServiceReconciler) SetupWithManager(mgr ctrl.Manager, c cache.Cache) error {
	return ctrl.NewControllerManagedBy(mgr).Named("netcheck-service").
		WatchesRawSource(source.Kind[client.Object](c, &corev1.Service{}, &handler.EnqueueRequestForObject{})).
		WatchesRawSource(source.Kind[client.Object](c, &discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				if name := o.GetLabels()[netcheck.ServiceNameLabel]; name != "" {
					return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
				}
				return nil
			}))).
		WatchesRawSource(source.Kind[client.Object](mgr.GetCache(), &itopsv1alpha1.Incident{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfNamespace),
			causeTransitions)).
		WatchesRawSource(source.Kind[client.Object](mgr.GetCache(), &itopsv1alpha1.ServiceLevel{}, handler.EnqueueRequestsFromMapFunc(r.allServicesOf),
			scopeChanges)).
		Complete(r)
}

// scopeChanges lets through the ServiceLevel events that can change which Services it
// covers: creations, deletions and spec changes (metadata.generation); its status writes
// (every reconcile of the ServiceLevel controller) do not re-queue the namespace's Services.
var scopeChanges = predicate.GenerationChangedPredicate{}

// causeTransitions lets through the incident events that can change a Service's cause:
// creations, deletions, and updates where the incident starts or stops being a cause (open
// with an active signal, as cause reads it). The status writes in between (notifications,
// evidence, timeline) re-judge nothing.
var causeTransitions = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	return isCause(e.ObjectOld) != isCause(e.ObjectNew)
}}

// isCause reports whether an object is an incident that may explain a symptom: open, not
// being deleted, with an active signal.
func isCause(o client.Object) bool {
	inc, ok := o.(*itopsv1alpha1.Incident)
	return ok && inc.DeletionTimestamp == nil && lifecycle.IsOpen(inc) && health.AnyActive(inc.Status.Signals)
}

// allServicesOf maps a ServiceLevel to the Services of its namespace: which ones it covers
// (scope, priority, spec.service) may have changed.
func (r *ServiceReconciler) allServicesOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &corev1.ServiceList{}
	if err := r.Reader.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if netcheck.Judged(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// servicesOfNamespace maps an incident of another subject (a workload's) to the Services
// of its namespace that have a ServiceWithoutEndpoints incident.
func (r *ServiceReconciler) servicesOfNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	inc, ok := o.(*itopsv1alpha1.Incident)
	if !ok || len(inc.Spec.Affected) == 0 || inc.Spec.Affected[0].Kind == "Service" {
		return nil
	}
	list := &itopsv1alpha1.IncidentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(inc.Namespace),
		client.MatchingLabels{itopsv1alpha1.LabelReason: itopsv1alpha1.ReasonServiceWithoutEndpoints}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, i := range list.Items {
		if len(i.Spec.Affected) > 0 && i.Spec.Affected[0].Kind == "Service" {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: i.Namespace, Name: i.Spec.Affected[0].Name}})
		}
	}
	return reqs
}

// Reconcile judges one Service.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	subj := health.Subject{APIVersion: "v1", Kind: "Service", Namespace: req.Namespace, Name: req.Name}
	healthy := incidentwriter.SignalObservation{Subject: subj, Reason: itopsv1alpha1.ReasonServiceWithoutEndpoints,
		IncidentReason: itopsv1alpha1.ReasonServiceWithoutEndpoints}
	svc := &corev1.Service{}
	err := r.Reader.Get(ctx, req.NamespacedName, svc)
	if apierrors.IsNotFound(err) || (err == nil && (svc.DeletionTimestamp != nil || !netcheck.Judged(svc))) {
		r.seen.observe(req.String(), false, time.Time{})
		return writeSignal(ctx, r.Writer, healthy, 0)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	slices := &discoveryv1.EndpointSliceList{}
	if err := r.Reader.List(ctx, slices, client.InNamespace(req.Namespace), client.MatchingLabels{netcheck.ServiceNameLabel: req.Name}); err != nil {
		return reconcile.Result{}, err
	}
	facts := netcheck.ServiceFacts{Name: svc.Name, Created: svc.CreationTimestamp.Time, Selector: svc.Spec.Selector,
		ReadyEndpoints: netcheck.ReadyEndpoints(slices.Items)}
	if facts.ReadyEndpoints > 0 {
		r.seen.observe(req.String(), false, time.Time{})
		return writeSignal(ctx, r.Writer, healthy, 0)
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(req.Namespace), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return reconcile.Result{}, err
	}
	var workloads []health.Subject
	seenWorkload := map[health.Subject]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		facts.Pods = append(facts.Pods, netcheck.PodFactsOf(p))
		w, err := health.Rollup(p, "v1", "Pod", r.lookup(ctx))
		if err != nil {
			return reconcile.Result{}, err
		}
		if !seenWorkload[w] {
			seenWorkload[w] = true
			workloads = append(workloads, w)
		}
	}
	if facts.Idle, facts.Serving, err = r.idle(ctx, svc); err != nil {
		return reconcile.Result{}, err
	}
	service, err := r.coveringServiceLevel(ctx, req.Namespace, workloads)
	if err != nil {
		return reconcile.Result{}, err
	}
	v := netcheck.JudgeService(facts)
	if !v.Unhealthy || (r.Policy.Scope == config.ServiceScopeCovered && service == "") {
		r.seen.observe(req.String(), false, time.Time{})
		return writeSignal(ctx, r.Writer, healthy, 0)
	}
	t := now(r.Clock)
	first := r.seen.observe(req.String(), true, t)
	j := custom.Judge(custom.Verdict{Unhealthy: true, Since: v.Since}, first, r.Policy.GracePeriod.Duration, t)
	impact, urgency := netcheck.ServiceSeverity(service != "")
	o := healthy
	o.Problem = &custom.Problem{Reason: itopsv1alpha1.ReasonServiceWithoutEndpoints, Message: v.Message, Since: j.Since,
		Priority: priority.For(impact, urgency), Sustain: j.Pending}
	o.Impact, o.Urgency, o.Service = impact, urgency, service
	o.CauseJudged = true
	calledByAPIServer := false
	if r.Called != nil {
		if calledByAPIServer, err = r.Called(ctx, req.Namespace, req.Name); err != nil {
			return reconcile.Result{}, err
		}
	}
	if !calledByAPIServer {
		if o.Cause, err = r.cause(ctx, workloads, subj); err != nil {
			return reconcile.Result{}, err
		}
	}
	return writeSignal(ctx, r.Writer, o, j.RequeueAfter)
}

// cause is the open incident (with an active signal) of a workload the Service's pods
// belong to, the first by subject; nil when none has one.
func (r *ServiceReconciler) cause(ctx context.Context, workloads []health.Subject, self health.Subject) (*itopsv1alpha1.IncidentReference, error) {
	var candidates []netcheck.CauseCandidate
	for _, w := range workloads {
		if w == self {
			continue
		}
		inc, err := r.Writer.Latest(ctx, w)
		if err != nil {
			return nil, err
		}
		c := netcheck.CauseCandidate{Subject: w.String()}
		if inc != nil && inc.DeletionTimestamp == nil && lifecycle.IsOpen(inc) && health.AnyActive(inc.Status.Signals) {
			c.Incident = incidentwriter.Reference(inc)
		}
		candidates = append(candidates, c)
	}
	return netcheck.ServiceCause(candidates), nil
}

// coveringServiceLevel names the first ServiceLevel (by name) of the namespace that selects
// one of the workloads, "" when none does.
func (r *ServiceReconciler) coveringServiceLevel(ctx context.Context, ns string, workloads []health.Subject) (string, error) {
	if len(workloads) == 0 {
		return "", nil
	}
	sls := &itopsv1alpha1.ServiceLevelList{}
	if err := r.Client.List(ctx, sls, client.InNamespace(ns)); err != nil {
		return "", err
	}
	if len(sls.Items) == 0 {
		return "", nil
	}
	var sets []labels.Set
	for _, w := range workloads {
		obj := workloadObject(w)
		if obj == nil {
			continue
		}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: w.Name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return "", err
		}
		sets = append(sets, labels.Set(obj.GetLabels()))
	}
	sort.Slice(sls.Items, func(i, j int) bool { return sls.Items[i].Name < sls.Items[j].Name })
	for _, sl := range sls.Items {
		if len(selector.ServiceLevel(&sl.Spec)) > 0 {
			continue // Stalled on the ServiceLevel itself (InvalidSelector)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sl.Spec.Selector)
		if err != nil {
			continue
		}
		if netcheck.Covered([]labels.Selector{sel}, sets) {
			return sl.Name, nil
		}
	}
	return "", nil
}

// workloadObject is an empty object of a workload kind the manager caches typed (nil for
// other kinds: their labels are not read).
func workloadObject(w health.Subject) client.Object {
	switch w.Group() + "/" + w.Kind {
	case "apps/Deployment":
		return &appsv1.Deployment{}
	case "apps/StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/DaemonSet":
		return &appsv1.DaemonSet{}
	case "batch/Job":
		return &batchv1.Job{}
	case "batch/CronJob":
		return &batchv1.CronJob{}
	}
	return nil
}

// idle names the Deployments and StatefulSets of the namespace that are scaled to zero, and
// the Jobs that have finished (their pods may be gone), whose pod template the Service's
// selector matches; serving names those Deployments and StatefulSets that want pods
// (replicas > 0, or unset: 1).
func (r *ServiceReconciler) idle(ctx context.Context, svc *corev1.Service) (idle, serving []string, err error) {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	classify := func(kind, name string, replicas *int32, template map[string]string) {
		switch {
		case !sel.Matches(labels.Set(template)):
		case replicas != nil && *replicas == 0:
			idle = append(idle, kind+"/"+name)
		default:
			serving = append(serving, kind+"/"+name)
		}
	}
	deployments := &appsv1.DeploymentList{}
	if err := r.Client.List(ctx, deployments, client.InNamespace(svc.Namespace)); err != nil {
		return nil, nil, err
	}
	for _, d := range deployments.Items {
		classify("Deployment", d.Name, d.Spec.Replicas, d.Spec.Template.Labels)
	}
	statefulSets := &appsv1.StatefulSetList{}
	if err := r.Client.List(ctx, statefulSets, client.InNamespace(svc.Namespace)); err != nil {
		return nil, nil, err
	}
	for _, s := range statefulSets.Items {
		classify("StatefulSet", s.Name, s.Spec.Replicas, s.Spec.Template.Labels)
	}
	jobs := &batchv1.JobList{}
	if err := r.Client.List(ctx, jobs, client.InNamespace(svc.Namespace)); err != nil {
		return nil, nil, err
	}
	for _, j := range jobs.Items {
		if jobFinished(&j) && sel.Matches(labels.Set(j.Spec.Template.Labels)) {
			idle = append(idle, "Job/"+j.Name)
		}
	}
	return idle, serving, nil
}

// jobFinished reports whether a Job has finished: its Complete or Failed condition is true.
func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// lookup returns the controller of a pod's owner from the manager's cache: typed reads for
// the workload kinds it caches, metadata reads for ReplicaSets; any other kind ends the
// roll-up at its name (not read).
func (r *ServiceReconciler) lookup(ctx context.Context) health.OwnerLookup {
	return func(namespace string, ref metav1.OwnerReference) (*metav1.OwnerReference, bool, error) {
		subj := health.Subject{APIVersion: ref.APIVersion, Kind: ref.Kind}
		obj := workloadObject(subj)
		if obj == nil {
			if subj.Group()+"/"+subj.Kind != "apps/ReplicaSet" {
				return nil, false, nil
			}
			m := &metav1.PartialObjectMetadata{}
			m.APIVersion, m.Kind = ref.APIVersion, ref.Kind
			obj = m
		}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj)
		switch {
		case apierrors.IsNotFound(err):
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
