// Package v1alpha1 contains the itops.dev/v1alpha1 API: Incident, ChangeRequest,
// MaintenanceWindow and ServiceLevel.
//
// +kubebuilder:object:generate=true
// +groupName=itops.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "itops.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group-version to a scheme. It depends on
	// apimachinery only, so that the API package stays cheap to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// objectTypes are registered by each kind's file.
	objectTypes []runtime.Object
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, objectTypes...)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
