package config

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/itops-dev/itops-operator/internal/podlogs"
)

// EvidenceLogsPolicy configures the last lines of a crashed container's log that an incident
// keeps in status.evidence.previousLogs (docs/incidents.md, "Previous container's log"):
//
//	detection:
//	  evidenceLogs:
//	    mode: OptIn        # OptIn (default) | All | Disabled
//	    tailLines: 20      # 1..100
//	    limitBytes: 4096   # 1..16384, all kept lines together
type EvidenceLogsPolicy struct {
	// Mode: OptIn reads logs only in namespaces annotated itops.dev/evidence-logs: previous;
	// All in every namespace but those annotated itops.dev/evidence-logs: none; Disabled nowhere.
	Mode string `json:"mode,omitempty"`
	// TailLines is how many of the last lines are kept (default 20, at most 100).
	TailLines int64 `json:"tailLines,omitempty"`
	// LimitBytes bounds the kept lines together, in bytes (default 4096, at most 16384); the
	// oldest lines are dropped first.
	LimitBytes int64 `json:"limitBytes,omitempty"`
}

func (p *EvidenceLogsPolicy) applyDefaults() {
	if p.Mode == "" {
		p.Mode = podlogs.ModeOptIn
	}
	if p.TailLines == 0 {
		p.TailLines = podlogs.DefaultTailLines
	}
	if p.LimitBytes == 0 {
		p.LimitBytes = podlogs.DefaultLimitBytes
	}
}

// Limits are the policy's bounds of an excerpt.
func (p EvidenceLogsPolicy) Limits() podlogs.Limits {
	return podlogs.Limits{TailLines: p.TailLines, LimitBytes: p.LimitBytes}
}

func (p EvidenceLogsPolicy) validate(fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch p.Mode {
	case "", podlogs.ModeOptIn, podlogs.ModeAll, podlogs.ModeDisabled: // "": the default
	default:
		errs = append(errs, field.NotSupported(fp.Child("mode"), p.Mode, []string{podlogs.ModeOptIn, podlogs.ModeAll, podlogs.ModeDisabled}))
	}
	// Validated before defaults apply: 0 stands for the default.
	if p.TailLines < 0 || p.TailLines > podlogs.MaxTailLines {
		errs = append(errs, field.Invalid(fp.Child("tailLines"), p.TailLines, "must be between 1 and 100"))
	}
	if p.LimitBytes < 0 || p.LimitBytes > podlogs.MaxLimitBytes {
		errs = append(errs, field.Invalid(fp.Child("limitBytes"), p.LimitBytes, "must be between 1 and 16384 (bytes)"))
	}
	return errs
}
