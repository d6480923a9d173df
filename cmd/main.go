// Command itops-operator runs the itops.dev controllers and admission webhooks.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	alertmanagercontrollers "github.com/itops-dev/itops-operator/controllers/alertmanager"
	capacitycontrollers "github.com/itops-dev/itops-operator/controllers/capacity"
	certexpirycontrollers "github.com/itops-dev/itops-operator/controllers/certexpiry"
	changecontrollers "github.com/itops-dev/itops-operator/controllers/change"
	"github.com/itops-dev/itops-operator/controllers/customdetector"
	healthcontrollers "github.com/itops-dev/itops-operator/controllers/health"
	"github.com/itops-dev/itops-operator/controllers/incident"
	"github.com/itops-dev/itops-operator/controllers/incidentwriter"
	maintenancecontrollers "github.com/itops-dev/itops-operator/controllers/maintenance"
	netcheckcontrollers "github.com/itops-dev/itops-operator/controllers/netcheck"
	"github.com/itops-dev/itops-operator/controllers/notification"
	promrulecontrollers "github.com/itops-dev/itops-operator/controllers/promrule"
	servicelevelcontrollers "github.com/itops-dev/itops-operator/controllers/servicelevel"
	"github.com/itops-dev/itops-operator/controllers/webhookcert"
	"github.com/itops-dev/itops-operator/controllers/webhookscope"
	"github.com/itops-dev/itops-operator/internal/audit"
	"github.com/itops-dev/itops-operator/internal/cachetransform"
	"github.com/itops-dev/itops-operator/internal/config"
	"github.com/itops-dev/itops-operator/internal/health"
	"github.com/itops-dev/itops-operator/internal/lifecycle"
	"github.com/itops-dev/itops-operator/internal/metrics"
	"github.com/itops-dev/itops-operator/internal/uninstall"
	"github.com/itops-dev/itops-operator/internal/version"
	webhooks "github.com/itops-dev/itops-operator/internal/webhook"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(itopsv1alpha1.AddToScheme(scheme))
	// PrometheusRules the ServiceLevels' generated rules are written as (controllers/promrule).
	utilruntime.Must(monitoringv1.AddToScheme(scheme))
}

// options are the operator's command-line flags (see API.md).
type options struct {
	metricsAddr       string
	probeAddr         string
	leaderElect       bool
	webhookCertDir    string
	webhookPort       int
	enableWebhooks    bool
	operatorNamespace string
	clusterNamespace  string
	resolveAfter      time.Duration
	configFile        string
	enableHTTP2       bool
	secureMetrics     bool
	webhookService    string
	webhookConfig     string
	// releaseFinalizers runs the one-shot uninstall mode (internal/uninstall) and exits.
	releaseFinalizers bool
	operatorPods      string
	// enableScalingWebhook serves the scaling bounds webhook (vscaling, vscalinghpa); off, the
	// handler is not registered and the chart leaves those webhooks out.
	enableScalingWebhook bool
}

// webhookCertSecret is the Secret in the operator namespace that holds the self-managed
// webhook certificate.
const webhookCertSecret = "itops-operator-webhook-cert"

func defaultOperatorNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "itops-system"
}

func main() {
	var o options
	// --kubeconfig is registered by controller-runtime's config package.
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443", "The address the metrics endpoint binds to (HTTPS unless --metrics-secure=false); 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "The address the health and readiness probes bind to.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Enable leader election, so that only one replica is active at a time.")
	flag.StringVar(&o.webhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"),
		"Directory holding the webhook serving certificate (tls.crt, tls.key). When it already holds one, the operator serves it and manages none.")
	flag.IntVar(&o.webhookPort, "webhook-port", 9443, "The port the admission webhook server listens on.")
	flag.StringVar(&o.webhookService, "webhook-service-name", "itops-operator-webhook",
		"The Service (in the operator namespace) the webhooks are reached through; the self-managed certificate is issued for it.")
	flag.StringVar(&o.webhookConfig, "webhook-configuration-name", "itops-operator",
		"The name of the operator's MutatingWebhookConfiguration and ValidatingWebhookConfiguration; the self-managed CA is injected into these two only, and the scaling webhooks' namespaceSelector is kept in the validating one.")
	flag.BoolVar(&o.enableWebhooks, "enable-webhooks", true, "Serve the admission webhooks.")
	flag.StringVar(&o.operatorNamespace, "operator-namespace", defaultOperatorNamespace(),
		"Namespace the operator runs in and keeps its own Secrets in (default $POD_NAMESPACE, else itops-system).")
	flag.StringVar(&o.clusterNamespace, "cluster-namespace", "itops-cluster",
		"Namespace for incidents about cluster-scoped objects (Nodes) and for cluster-wide MaintenanceWindows.")
	flag.DurationVar(&o.resolveAfter, "resolve-after", 5*time.Minute, "How long a problem must stay healthy before its incident auto-resolves.")
	flag.StringVar(&o.configFile, "config", "", "Optional YAML file with the administrator-owned policies; invalid config fails start-up.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, authenticated and authorized through the API server (TokenReview, SubjectAccessReview).")
	flag.BoolVar(&o.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics and webhook servers (off: CVE-2023-44487, CVE-2023-39325).")
	flag.BoolVar(&o.releaseFinalizers, "release-finalizers", false,
		"One-shot uninstall mode (the Helm chart's post-delete hook): wait for the operator's pods (--operator-pod-selector) to be gone, "+
			"remove the operator's finalizers from every Incident, ChangeRequest, MaintenanceWindow and ServiceLevel, delete the "+
			"self-managed webhook certificate Secret, and exit.")
	flag.StringVar(&o.operatorPods, "operator-pod-selector", "", "With --release-finalizers: label selector of the operator's pods in --operator-namespace to wait for.")
	flag.BoolVar(&o.enableScalingWebhook, "enable-scaling-webhook", true,
		"Serve the scaling bounds webhook (vscaling.itops.dev, vscalinghpa.itops.dev). Turn it off together with those webhook configurations.")
	checkConfigFile := flag.String("check-config", "",
		"Check a policy file (- reads standard input; a policy ConfigMap or `helm template` output also works) exactly as --config "+
			"is loaded at start-up, print every problem with its field path, and exit: 0 valid, 1 invalid (the Helm chart's pre-install hook).")
	printVersion := flag.Bool("version", false, "Print the version, commit and build date, and exit.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *printVersion {
		fmt.Println(version.Get())
		return
	}
	if *checkConfigFile != "" {
		os.Exit(checkConfig(*checkConfigFile, os.Stdin, os.Stdout))
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if o.releaseFinalizers {
		if err := releaseFinalizers(o); err != nil {
			setupLog.Error(err, "releasing the operator's finalizers")
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		setupLog.Error(err, "operator failed")
		os.Exit(1)
	}
}

func (o options) validate() error {
	var errs []error
	if o.resolveAfter <= 0 {
		errs = append(errs, fmt.Errorf("--resolve-after must be positive, got %s", o.resolveAfter))
	}
	if o.clusterNamespace == "" {
		errs = append(errs, errors.New("--cluster-namespace must not be empty"))
	}
	if o.operatorNamespace == "" {
		errs = append(errs, errors.New("--operator-namespace must not be empty"))
	}
	if o.clusterNamespace != "" && o.clusterNamespace == o.operatorNamespace {
		errs = append(errs, fmt.Errorf("--cluster-namespace must differ from --operator-namespace (%q): whoever may create "+
			"cluster-wide MaintenanceWindows must not get access to the operator's Secrets", o.operatorNamespace))
	}
	if o.webhookPort <= 0 || o.webhookPort > 65535 {
		errs = append(errs, fmt.Errorf("--webhook-port must be a TCP port, got %d", o.webhookPort))
	}
	return errors.Join(errs...)
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// metricsOptions serves metrics as kubebuilder does: over HTTPS with authentication and
// authorization by the API server unless --metrics-secure=false.
func metricsOptions(o options, tlsOpts []func(*tls.Config)) metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics, TLSOpts: tlsOpts}
	if o.secureMetrics {
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// releaseFinalizers is the one-shot uninstall mode: see internal/uninstall.
func releaseFinalizers(o options) error {
	c, err := client.New(ctrl.GetConfigOrDie(), client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctrl.SetupSignalHandler(), 5*time.Minute)
	defer cancel()
	res, err := uninstall.Run(ctx, c, ctrl.Log.WithName("uninstall"), uninstall.Options{
		OperatorNamespace: o.operatorNamespace, PodSelector: o.operatorPods, WebhookCertSecret: webhookCertSecret,
	})
	setupLog.Info("released", "objects", len(res.Released), "webhookCertSecretDeleted", res.SecretDeleted)
	return err
}

func run(o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	policy, err := config.Load(o.configFile)
	if err != nil {
		return fmt.Errorf("loading --config %q: %w", o.configFile, err)
	}
	build := version.Get()
	setupLog.Info("itops-operator", "version", build.Version, "commit", build.Commit, "built", build.Date, "go", build.GoVersion)
	setupLog.Info("policy loaded", "file", o.configFile, "changePolicies", len(policy.ChangePolicies),
		"operatorNamespace", o.operatorNamespace, "clusterNamespace", o.clusterNamespace, "resolveAfter", o.resolveAfter)

	restConfig := ctrl.GetConfigOrDie()
	var certManager *webhookcert.Manager
	// The Alertmanager endpoint is served by the webhook server, with its certificate.
	servesWebhookPort := o.enableWebhooks || policy.Alertmanager.Enabled
	if servesWebhookPort && !webhookcert.HasCertificate(o.webhookCertDir) {
		// No certificate provided: manage our own. The files must exist before the webhook
		// server starts, so the first issue happens here, with a live client.
		direct, err := client.New(restConfig, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		certManager = &webhookcert.Manager{Client: direct, Namespace: o.operatorNamespace, SecretName: webhookCertSecret,
			ServiceName: o.webhookService, CertDir: o.webhookCertDir, WebhookConfiguration: o.webhookConfig}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err = certManager.Ensure(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("managing the webhook certificate (or provide one in --webhook-cert-dir): %w", err)
		}
		setupLog.Info("serving a self-managed webhook certificate", "dnsNames", certManager.DNSNames(), "dir", o.webhookCertDir)
	}

	var tlsOpts []func(*tls.Config)
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}

	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme,
		// Watching every Pod is the operator's biggest cost: keep the cache lean. Every object
		// loses its managedFields; pods keep only what the detectors read; only Warning Events
		// are watched, trimmed (internal/cachetransform.ByObject).
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         cacheByObject(o.webhookConfig),
		},
		Metrics:                metricsOptions(o, tlsOpts),
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "itops-operator.itops.dev",
		LeaderElectionNamespace: func() string {
			if o.leaderElect {
				return o.operatorNamespace
			}
			return ""
		}(),
		WebhookServer: webhook.NewServer(webhook.Options{
			Port:    o.webhookPort,
			CertDir: o.webhookCertDir,
			TLSOpts: alertmanagercontrollers.TLSOptions(tlsOpts, policy.Alertmanager),
		}),
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	metrics.Register(mgr.GetClient())
	metrics.RegisterBuildInfo(build.Version, build.Commit, build.GoVersion)
	lifecyclePolicy := lifecycle.Policy{
		ResolveAfter:      o.resolveAfter,
		ReopenWindow:      policy.Incidents.ReopenWindow.Duration,
		CloseAfter:        policy.Incidents.CloseAfter.Duration,
		DeleteClosedAfter: policy.Incidents.DeleteClosedAfter.Duration,
	}
	auditLog := audit.New(ctrl.Log)
	if err := (&incident.Reconciler{
		Client:        mgr.GetClient(),
		Recorder:      mgr.GetEventRecorder("itops-operator"),
		Audit:         auditLog,
		Policy:        lifecyclePolicy,
		RelatedWithin: policy.Changes.RelatedWithin.Duration,

		ClusterNamespace: o.clusterNamespace,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the incident controller: %w", err)
	}
	if err := (&notification.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), OperatorNamespace: o.operatorNamespace,
		Policy: &policy.Notifications, Recorder: mgr.GetEventRecorder("itops-notifier"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the notification controller: %w", err)
	}
	if err := (&notification.ChangeReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), OperatorNamespace: o.operatorNamespace, Policy: &policy.Notifications,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the PagerDuty change events: %w", err)
	}

	if certManager != nil {
		if err := mgr.Add(certManager); err != nil { // renews before expiry
			return err
		}
	}
	var operatorUser string
	if o.enableWebhooks {
		operatorUser, err = webhooks.WhoAmI(restConfig)
		if err != nil {
			return fmt.Errorf("finding the operator's own identity (SelfSubjectReview): %w", err)
		}
		setupLog.Info("only this identity may write status, open automated incidents and set the operator's marks", "user", operatorUser)
		if err := (&webhooks.IncidentWebhook{OperatorUser: operatorUser, Reader: mgr.GetCache()}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the incident webhooks: %w", err)
		}
		mgr.GetWebhookServer().Register(webhooks.StatusGuardPath, &webhook.Admission{Handler: (&webhooks.StatusGuard{OperatorUser: operatorUser}).Handler()})
	}

	incidentSyncer := &incidentwriter.Writer{
		Client:           mgr.GetClient(),
		Policy:           lifecyclePolicy,
		ClusterNamespace: o.clusterNamespace,
	}
	// The previous container's log in the evidence, where namespaces opt in (docs/incidents.md).
	evidenceLogs := policy.Detection.EvidenceLogs
	if incidentSyncer.Logs, err = incidentwriter.NewPodLogCapturer(restConfig, mgr.GetClient(), evidenceLogs.Mode, evidenceLogs.Limits()); err != nil {
		return fmt.Errorf("setting up the evidence log reader: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := (&changecontrollers.Reconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("itops-operator"),
		Audit:     auditLog,
		Policy:    policy,
		Incidents: incidentSyncer,
		// The gate never covers these (see the Gate below): its records there are not trusted.
		UngatedNamespaces: []string{o.operatorNamespace, o.clusterNamespace},
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the change controller: %w", err)
	}
	if err := (&maintenancecontrollers.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("itops-operator"),
		Audit:    auditLog,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the maintenance window controller: %w", err)
	}
	serviceLevels := &servicelevelcontrollers.Reconciler{
		Client:           mgr.GetClient(),
		Recorder:         mgr.GetEventRecorder("itops-operator"),
		Incidents:        incidentSyncer,
		ClusterNamespace: o.clusterNamespace,
		Audit:            auditLog,
		// SLIs from Prometheus: the policy's prometheus key, its Secrets read uncached.
		Prometheus: &servicelevelcontrollers.PrometheusSource{Policy: policy.Prometheus, APIReader: mgr.GetAPIReader(), OperatorNamespace: o.operatorNamespace},
	}
	if err := serviceLevels.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ServiceLevel controller: %w", err)
	}
	servicelevelcontrollers.RegisterMetrics(serviceLevels)
	// Generated PrometheusRules (spec.objectives.sli.prometheusRule); waits for the kind.
	if err := (&promrulecontrollers.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("itops-operator")}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the PrometheusRule controller: %w", err)
	}
	if err := (&changecontrollers.NamespaceReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		OperatorNamespace: o.operatorNamespace,
		Incidents:         incidentSyncer,
		Audit:             auditLog,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the change control watch: %w", err)
	}
	if o.enableWebhooks {
		if err := setupChangeWebhooks(ctx, mgr, o, policy, auditLog, operatorUser); err != nil {
			return err
		}
	}

	thresholds := health.DefaultThresholds
	thresholds.WorkloadGracePeriod = policy.Detection.WorkloadGracePeriod.Duration
	thresholds.VolumeClaimPendingGracePeriod = policy.Detection.VolumeClaimPendingGracePeriod.Duration
	thresholds.NodeNotReadyGracePeriod = policy.Detection.NodeNotReadyGracePeriod.Duration
	thresholds.StartupGracePeriod = policy.Detection.StartupGracePeriod.Duration
	// Pods unschedulable, stuck creating or failing their probes get the workload's grace;
	// node conditions the NotReady one (docs/incidents.md, reasons table).
	thresholds.PodGracePeriod = policy.Detection.WorkloadGracePeriod.Duration
	thresholds.NodeConditionGracePeriod = policy.Detection.NodeNotReadyGracePeriod.Duration
	thresholds.NodeConditionsIgnored = policy.Detection.NodeConditionsIgnored
	// ContainerRestarting: a restart count rising by restarts within window.
	thresholds.RestartThreshold = policy.Detection.ContainerRestarting.Restarts
	thresholds.RestartWindow = policy.Detection.ContainerRestarting.Window.Duration
	if err := healthcontrollers.Setup(ctx, mgr, incidentSyncer, thresholds); err != nil {
		return fmt.Errorf("setting up the health detectors: %w", err)
	}

	if err := setupDetectors(mgr, incidentSyncer, policy); err != nil {
		return err
	}

	// Alertmanager in: alerts whose resolution never arrived expire (alertmanager.staleAfter).
	// Runs also while the endpoint is disabled, so alerts recorded before clear.
	if err := (&alertmanagercontrollers.StaleReconciler{
		Client: mgr.GetClient(), Writer: incidentSyncer, StaleAfter: policy.Alertmanager.StaleAfter.Duration,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Alertmanager stale-alert controller: %w", err)
	}
	if servesWebhookPort {
		// Alertmanager in: POST /alertmanager/v4 (answers 404 while alertmanager.enabled is false).
		mgr.GetWebhookServer().Register(alertmanagercontrollers.Path, &alertmanagercontrollers.Receiver{
			Policy: policy.Alertmanager, Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Writer: incidentSyncer,
			Namespace: o.operatorNamespace, Log: ctrl.Log.WithName("alertmanager"),
		})
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	ready := healthz.Ping
	if o.enableWebhooks {
		// Ready once the webhook server serves and the caches the webhooks decide from are
		// synced, so that no admission request meets a closed port or an empty cache. Every
		// replica serves webhooks, leader or not.
		started := mgr.GetWebhookServer().StartedChecker()
		ready = func(req *http.Request) error {
			if err := started(req); err != nil {
				return err
			}
			syncCtx, cancel := context.WithTimeout(req.Context(), time.Second)
			defer cancel()
			if !mgr.GetCache().WaitForCacheSync(syncCtx) {
				return errors.New("informer caches not synced yet")
			}
			return nil
		}
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}

	setupLog.Info("starting manager")
	return mgr.Start(ctx)
}

// setupDetectors starts the administrator-defined detectors (docs/detectors.md), the capacity
// and schedule detectors (controllers/capacity) and, when the
// policy enables it, the CertificateExpiring detector (cert-manager Certificates once
// served; TLS Secrets once RBAC allows reading them).
func setupDetectors(mgr ctrl.Manager, w *incidentwriter.Writer, policy *config.Config) error {
	w.CustomReasons = map[string]bool{}
	for _, d := range policy.Detectors {
		w.CustomReasons[d.Reason] = true
	}
	if err := customdetector.Setup(mgr, w, policy.Detectors); err != nil {
		return fmt.Errorf("setting up the custom detectors: %w", err)
	}
	if err := capacitycontrollers.Setup(mgr, w, policy.Detection); err != nil {
		return fmt.Errorf("setting up the capacity and schedule detectors: %w", err)
	}
	// ServiceWithoutEndpoints, RouteBackendMissing, WebhookUnavailable (docs/detectors.md).
	if err := netcheckcontrollers.Setup(mgr, w, policy.Detection); err != nil {
		return fmt.Errorf("setting up the network detectors: %w", err)
	}
	ce := policy.Detection.CertificateExpiry
	if !ce.CertificateExpiryEnabled() {
		return nil
	}
	// cert-manager Certificates once served; TLS Secrets once the operator may list and watch
	// them (not granted by the installation).
	if err := certexpirycontrollers.Setup(mgr, &certexpirycontrollers.Reconciler{
		Client: mgr.GetClient(), Writer: w, Policy: ce, Log: ctrl.Log.WithName("certexpiry"),
	}); err != nil {
		return fmt.Errorf("setting up the certificate expiry detector: %w", err)
	}
	return nil
}

// setupChangeWebhooks registers the ChangeRequest webhooks and the change gate, and starts the
// informers they read so that the first admission request does not wait for them.
func setupChangeWebhooks(ctx context.Context, mgr ctrl.Manager, o options, policy *config.Config, auditLog audit.Logger, operatorUser string) error {
	for _, obj := range []client.Object{&corev1.Namespace{}, &itopsv1alpha1.MaintenanceWindow{}, &itopsv1alpha1.ServiceLevel{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("starting the informer for %T: %w", obj, err)
		}
	}
	if err := (&webhooks.MaintenanceWindowWebhook{}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the maintenance window webhook: %w", err)
	}
	if err := (&webhooks.ServiceLevelWebhook{Notifications: &policy.Notifications}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the service level webhook: %w", err)
	}
	if err := (&webhooks.ChangeRequestWebhook{Reader: mgr.GetCache(), APIReader: mgr.GetAPIReader(), Policy: policy, OperatorUser: operatorUser, Authorizer: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the change request webhooks: %w", err)
	}
	g := &webhooks.Gate{
		Reader: mgr.GetCache(), APIReader: mgr.GetAPIReader(), Policy: policy,
		ClusterNamespace: o.clusterNamespace, ExemptNamespaces: []string{o.operatorNamespace},
		Audit: auditLog, Recorder: mgr.GetEventRecorder("itops-change-gate"),
	}
	srv := mgr.GetWebhookServer()
	srv.Register(webhooks.GateValidatePath, &webhook.Admission{Handler: g.ValidatingHandler()})
	srv.Register(webhooks.GateMutatePath, &webhook.Admission{Handler: g.MutatingHandler()})
	if o.enableScalingWebhook {
		bounds := &webhooks.ScalingBounds{Reader: mgr.GetCache(), ExemptNamespaces: []string{o.operatorNamespace, o.clusterNamespace}}
		srv.Register(webhooks.ScalingBoundsPath, &webhook.Admission{Handler: bounds.Handler()})
		// The webhooks reach only the namespaces holding a ServiceLevel with scaling.
		if err := (&webhookscope.Reconciler{Client: mgr.GetClient(), WebhookConfiguration: o.webhookConfig}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the scaling webhooks' scope: %w", err)
		}
	} else {
		setupLog.Info("the scaling bounds webhook is off (--enable-scaling-webhook=false): ServiceLevel scaling bounds are not enforced at admission, only reported as drift")
	}
	return nil
}

// cacheByObject is the per-kind cache setup: trimmed Pods and Warning Events
// (internal/cachetransform.ByObject), for the scaling webhooks' scope only the operator's own
// ValidatingWebhookConfiguration, and TLS Secrets reduced to their certificates' expiry.
func cacheByObject(webhookConfig string) map[client.Object]cache.ByObject {
	byObject := cachetransform.ByObject()
	byObject[&admissionregistrationv1.ValidatingWebhookConfiguration{}] = webhookscope.ConfigurationCache(webhookConfig)
	// TLS Secrets only, without their data (CertificateExpiring).
	byObject[&corev1.Secret{}] = certexpirycontrollers.CacheOptions()
	// HPAs and PDBs trimmed to what the capacity detectors read.
	maps.Copy(byObject, capacitycontrollers.CacheOptions())
	return byObject
}
