package priority

import (
	"testing"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestFor(t *testing.T) {
	const (
		h = itopsv1alpha1.LevelHigh
		m = itopsv1alpha1.LevelMedium
		l = itopsv1alpha1.LevelLow
	)
	tests := []struct {
		impact, urgency itopsv1alpha1.Level
		want            itopsv1alpha1.Priority
	}{
		{h, h, "P1"},
		{h, m, "P2"}, {m, h, "P2"},
		{h, l, "P3"}, {m, m, "P3"}, {l, h, "P3"},
		{m, l, "P4"}, {l, m, "P4"},
		{l, l, "P5"},
		{"", "", "P3"}, // defaults are Medium/Medium
		{h, "", "P2"},
	}
	for _, tt := range tests {
		if got := For(tt.impact, tt.urgency); got != tt.want {
			t.Errorf("For(%q, %q) = %s, want %s", tt.impact, tt.urgency, got, tt.want)
		}
	}
}

func TestRaise(t *testing.T) {
	for _, tt := range []struct {
		p    itopsv1alpha1.Priority
		n    int
		want itopsv1alpha1.Priority
	}{
		{itopsv1alpha1.PriorityP3, 0, itopsv1alpha1.PriorityP3},
		{itopsv1alpha1.PriorityP3, 1, itopsv1alpha1.PriorityP2},
		{itopsv1alpha1.PriorityP5, 2, itopsv1alpha1.PriorityP3},
		{itopsv1alpha1.PriorityP2, 2, itopsv1alpha1.PriorityP1},
		{itopsv1alpha1.PriorityP1, 1, itopsv1alpha1.PriorityP1},
	} {
		if got := Raise(tt.p, tt.n); got != tt.want {
			t.Errorf("Raise(%s, %d) = %s, want %s", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestCapAndHighest(t *testing.T) {
	tests := []struct {
		p, cause, want itopsv1alpha1.Priority
	}{
		{"P1", "P2", "P2"}, // a symptom never outranks its cause
		{"P3", "P2", "P3"}, // a less urgent symptom keeps its own
		{"P2", "P2", "P2"},
		{"P1", "", "P1"}, // no cause, no cap
	}
	for _, tt := range tests {
		if got := Cap(tt.p, tt.cause); got != tt.want {
			t.Errorf("Cap(%s, %s) = %s, want %s", tt.p, tt.cause, got, tt.want)
		}
	}
	if got := Highest("P3", "P1", "", "P2"); got != "P1" {
		t.Errorf("Highest = %s", got)
	}
	if got := Highest(); got != "" {
		t.Errorf("Highest() = %q", got)
	}
}
