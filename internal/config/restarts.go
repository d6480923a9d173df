package config

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ContainerRestartingPolicy configures the restart rate of ContainerRestarting (policy key
// detection.containerRestarting, docs/incidents.md): a container whose restart count rose by
// Restarts or more within the last Window is restarting repeatedly, the early warning before
// CrashLoopBackOff (the N times in M minutes of the rule).
//
//	detection:
//	  containerRestarting:
//	    restarts: 3   # 2..100
//	    window: 10m   # 1m..24h
type ContainerRestartingPolicy struct {
	// Restarts is the rise of the restart count that fires (N; 2 to 100, default 3).
	Restarts int32 `json:"restarts,omitempty"`
	// Window is the time the rise is counted over (M; 1m to 24h, default 10m); the signal
	// clears once the restarts leave it.
	Window metav1.Duration `json:"window,omitempty"`
}

// Defaults and bounds of detection.containerRestarting.
const (
	DefaultContainerRestarts      = int32(3)
	MinContainerRestarts          = int32(2)
	MaxContainerRestarts          = int32(100)
	DefaultContainerRestartWindow = 10 * time.Minute
	MinContainerRestartWindow     = time.Minute
	MaxContainerRestartWindow     = 24 * time.Hour
)

func (p *ContainerRestartingPolicy) applyDefaults() {
	if p.Restarts == 0 {
		p.Restarts = DefaultContainerRestarts
	}
	defaultDuration(&p.Window, DefaultContainerRestartWindow)
}

// validate accepts 0 for either key: it stands for the default.
func (p ContainerRestartingPolicy) validate(fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Restarts != 0 && (p.Restarts < MinContainerRestarts || p.Restarts > MaxContainerRestarts) {
		errs = append(errs, field.Invalid(fp.Child("restarts"), p.Restarts, "must be between 2 and 100 (restarts within the window)"))
	}
	if w := p.Window.Duration; w != 0 && (w < MinContainerRestartWindow || w > MaxContainerRestartWindow) {
		errs = append(errs, field.Invalid(fp.Child("window"), w.String(), "must be between 1m and 24h"))
	}
	return errs
}
