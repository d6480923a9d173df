package capacity

import (
	"context"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	discoveryfake "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestPodUsages: PodMetrics as metrics-server serves them become working sets in bytes.
func TestPodUsages(t *testing.T) {
	item := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": PodMetricsGroupVersion, "kind": "PodMetrics",
		"metadata":  map[string]any{"namespace": "shop", "name": "web-1"},
		"timestamp": "2026-12-01T10:00:00Z", "window": "15s",
		"containers": []any{
			map[string]any{"name": "app", "usage": map[string]any{"cpu": "12m", "memory": "470Mi"}},
			map[string]any{"name": "proxy", "usage": map[string]any{"cpu": "1m", "memory": "20480Ki"}},
			map[string]any{"name": "broken", "usage": map[string]any{"memory": "lots"}},
			map[string]any{"usage": map[string]any{"memory": "1Mi"}},
		},
	}}
	got := podUsages([]unstructured.Unstructured{item})
	want := []PodUsage{{Namespace: "shop", Name: "web-1", Containers: []ContainerUsage{{Name: "app", WorkingSet: 470 << 20}, {Name: "proxy", WorkingSet: 20 << 20}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestServed: served only when discovery lists pods in metrics.k8s.io/v1beta1.
func TestServed(t *testing.T) {
	d := &discoveryfake.FakeDiscovery{Fake: &clienttesting.Fake{}}
	m := &APIMetrics{Discovery: d}
	if ok, err := m.Served(context.Background()); ok || err != nil {
		t.Fatalf("not installed: got %v, %v", ok, err)
	}
	d.Resources = []*metav1.APIResourceList{{GroupVersion: PodMetricsGroupVersion, APIResources: []metav1.APIResource{{Name: "nodes"}}}}
	if ok, err := m.Served(context.Background()); ok || err != nil {
		t.Fatalf("nodes only: got %v, %v", ok, err)
	}
	d.Resources[0].APIResources = append(d.Resources[0].APIResources, metav1.APIResource{Name: "pods"})
	if ok, err := m.Served(context.Background()); !ok || err != nil {
		t.Fatalf("served: got %v, %v", ok, err)
	}
}
