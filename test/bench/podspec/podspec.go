// Package podspec builds the pods the detection benchmarks watch: realistic ones (as a
// Helm-installed Deployment's ReplicaSet creates them) and the small ones of earlier runs.
package podspec

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Small is the pod of the earlier runs: one container, an image and a port, in ns on
// kwok-node-<node>.
func Small(ns, name string, node int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "load", "tier": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   fmt.Sprintf("kwok-node-%d", node),
			Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/load:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
		},
	}
}

// Realistic is a pod (in ns, on kwok-node-<node>) as a Helm-installed Deployment's ReplicaSet creates it, but standalone
// (the garbage collector deletes pods whose owner does not exist, and a real ReplicaSet would
// manage them): the chart's labels and annotations, an init container, the application and a
// proxy sidecar, each with environment (values, Secret and ConfigMap references, the
// downward API), envFrom, probes, resources, a security context and volume mounts; a
// projected service account token, ConfigMap, Secret and emptyDir volumes. It is created
// with the kube-controller-manager's field manager, so the API server writes its
// managedFields as it does for a ReplicaSet's pods; kwok's status writes add their own.
func Realistic(ns, name string, node int) *corev1.Pod {
	hash := "7d9f8c6b5"
	labels := map[string]string{
		"app.kubernetes.io/name": "load", "app.kubernetes.io/instance": "load-prod", "app.kubernetes.io/version": "1.4.2",
		"app.kubernetes.io/component": "web", "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/managed-by": "Helm",
		"helm.sh/chart": "load-0.9.3", "pod-template-hash": hash, "team": "checkout", "tier": "web",
	}
	annotations := map[string]string{
		"checksum/config":                                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"checksum/secret":                                "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
		"kubectl.kubernetes.io/restartedAt":              "2026-11-30T09:12:44Z",
		"kubectl.kubernetes.io/default-container":        "app",
		"prometheus.io/scrape":                           "true",
		"prometheus.io/port":                             "9090",
		"prometheus.io/path":                             "/metrics",
		"cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
	}
	env := func(extra ...corev1.EnvVar) []corev1.EnvVar {
		base := make([]corev1.EnvVar, 0, 12+len(extra))
		base = append(base, []corev1.EnvVar{
			{Name: "LOG_LEVEL", Value: "info"},
			{Name: "LOG_FORMAT", Value: "json"},
			{Name: "HTTP_PORT", Value: "8080"},
			{Name: "METRICS_PORT", Value: "9090"},
			{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc:4317"},
			{Name: "OTEL_SERVICE_NAME", Value: "load"},
			{Name: "GOMAXPROCS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1")}}},
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
		}...)
		return append(base, extra...)
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/etc/load", ReadOnly: true},
		{Name: "tls", MountPath: "/etc/tls", ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
		{Name: "kube-api-access-x7k2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
	}
	security := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	probe := func(path string, port int, delay, period int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt(port), Scheme: corev1.URISchemeHTTP}},
			InitialDelaySeconds: delay, PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3, SuccessThreshold: 1}
	}
	res := func(cpu, mem, cpuLimit, memLimit string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLimit), corev1.ResourceMemory: resource.MustParse(memLimit)},
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, GenerateName: "load-" + hash + "-", Labels: labels, Annotations: annotations,
		},
		Spec: corev1.PodSpec{
			NodeName:                      fmt.Sprintf("kwok-node-%d", node),
			ServiceAccountName:            "default",
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			PriorityClassName:             "",
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001), FSGroup: ptr.To[int64](10001)},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
				WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "load", "app.kubernetes.io/instance": "load-prod"}}}},
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
			InitContainers: []corev1.Container{{
				Name: "migrate", Image: "registry.example.com/shop/load-migrate:1.4.2@sha256:4bf5d2e1a7c3b9f08e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a291807",
				Command: []string{"/bin/migrate", "--config=/etc/load/config.yaml", "up"},
				Env: env(corev1.EnvVar{Name: "DATABASE_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "load-db"}, Key: "password"}}}),
				Resources: res("50m", "64Mi", "500m", "128Mi"), VolumeMounts: mounts, SecurityContext: security,
			}},
			Containers: []corev1.Container{
				{
					Name: "app", Image: "registry.example.com/shop/load:1.4.2@sha256:9c1e7d3b5a2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d2c4b6a8f0e2d4c6b8a0f2e4d",
					Args:  []string{"serve", "--config=/etc/load/config.yaml", "--listen=:8080"},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
					Env: env(
						corev1.EnvVar{Name: "DATABASE_URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "load-db"}, Key: "url"}}},
						corev1.EnvVar{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "load-redis"}, Key: "password"}}},
						corev1.EnvVar{Name: "FEATURE_FLAGS", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "load-flags"}, Key: "flags"}}},
						corev1.EnvVar{Name: "CACHE_TTL", Value: "300s"},
						corev1.EnvVar{Name: "UPSTREAM_TIMEOUT", Value: "2s"},
					),
					EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "load-env"}}}},
					Resources:       res("250m", "256Mi", "1", "512Mi"),
					VolumeMounts:    mounts,
					LivenessProbe:   probe("/healthz", 8080, 10, 10),
					ReadinessProbe:  probe("/readyz", 8080, 5, 5),
					StartupProbe:    probe("/healthz", 8080, 0, 2),
					Lifecycle:       &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "sleep 5"}}}},
					SecurityContext: security, ImagePullPolicy: corev1.PullIfNotPresent,
				},
				{
					Name: "proxy", Image: "registry.example.com/mesh/proxy:1.22.3",
					Args:            []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning", "--concurrency", "2"},
					Ports:           []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}},
					Env:             env(corev1.EnvVar{Name: "ISTIO_META_CLUSTER_ID", Value: "prod-eu-1"}, corev1.EnvVar{Name: "ISTIO_META_MESH_ID", Value: "prod"}),
					Resources:       res("100m", "128Mi", "2", "1Gi"),
					VolumeMounts:    mounts,
					ReadinessProbe:  probe("/healthz/ready", 15021, 1, 2),
					SecurityContext: security, ImagePullPolicy: corev1.PullIfNotPresent,
				},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "load-config"},
					Items: []corev1.KeyToPath{{Key: "config.yaml", Path: "config.yaml"}}, DefaultMode: ptr.To[int32](0o444)}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "load-tls", DefaultMode: ptr.To[int32](0o400)}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
				{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](0o644), Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
				}}}},
			},
		},
	}
}
