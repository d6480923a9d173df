package health

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRestartRise(t *testing.T) {
	const window = 10 * time.Minute
	at := func(count int32, d time.Duration) RestartSample { return RestartSample{Count: count, At: now.Add(-d)} }
	tests := []struct {
		name    string
		samples []RestartSample
		count   int32
		start   time.Duration // ago; 0: unknown
		rise    int32
		known   bool
		since   time.Duration // ago; -1: zero
		next    time.Duration // from now; 0: zero
	}{
		{name: "old pod rising 3 in 10m", samples: []RestartSample{at(10, time.Hour), at(11, 8*time.Minute), at(13, time.Minute)}, count: 13, start: 2 * time.Hour,
			rise: 3, known: true, since: 8 * time.Minute, next: 2 * time.Minute},
		{name: "current count not yet sampled", samples: []RestartSample{at(10, time.Hour)}, count: 13, start: 2 * time.Hour,
			rise: 3, known: true, since: 0, next: window},
		{name: "old pod, no change in the window", samples: []RestartSample{at(50, time.Hour)}, count: 50, start: 48 * time.Hour, known: true, since: -1},
		{name: "rise left the window", samples: []RestartSample{at(10, time.Hour), at(13, 11*time.Minute)}, count: 13, start: 2 * time.Hour, known: true, since: -1},
		{name: "no history: first sample now", count: 50, start: 2 * time.Hour, since: -1, next: window},
		{name: "history begins within the window: a lower bound", samples: []RestartSample{at(5, 6*time.Minute), at(8, time.Minute)}, count: 8, start: 2 * time.Hour,
			rise: 3, since: time.Minute, next: 4 * time.Minute},
		{name: "young pod: counted from its start", samples: []RestartSample{at(4, time.Minute)}, count: 4, start: 9 * time.Minute,
			rise: 4, known: true, since: time.Minute, next: time.Minute},
		{name: "start unknown", samples: []RestartSample{at(4, time.Minute)}, count: 4, since: -1, next: 9 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var start time.Time
			if tc.start != 0 {
				start = now.Add(-tc.start)
			}
			rise, known, since, next := RestartRise(tc.samples, tc.count, start, now, window)
			if rise != tc.rise || known != tc.known {
				t.Errorf("rise, known = %d, %v; want %d, %v", rise, known, tc.rise, tc.known)
			}
			wantSince := now.Add(-tc.since)
			if tc.since < 0 {
				wantSince = time.Time{}
			}
			if !since.Equal(wantSince) {
				t.Errorf("since = %v, want %v", since, wantSince)
			}
			wantNext := now.Add(tc.next)
			if tc.next == 0 {
				wantNext = time.Time{}
			}
			if !next.Equal(wantNext) {
				t.Errorf("next = %v, want %v", next, wantNext)
			}
		})
	}
}

func TestRecordRestarts(t *testing.T) {
	const window = 10 * time.Minute
	at := func(count int32, d time.Duration) RestartSample { return RestartSample{Count: count, At: now.Add(-d)} }
	tests := []struct {
		name  string
		in    []RestartSample
		count int32
		want  []RestartSample
	}{
		{name: "first observation", count: 3, want: []RestartSample{at(3, 0)}},
		{name: "unchanged: no sample", in: []RestartSample{at(3, time.Minute)}, count: 3, want: []RestartSample{at(3, time.Minute)}},
		{name: "rise appended", in: []RestartSample{at(3, time.Minute)}, count: 4, want: []RestartSample{at(3, time.Minute), at(4, 0)}},
		{name: "samples before the baseline dropped", in: []RestartSample{at(1, time.Hour), at(2, 20*time.Minute), at(3, time.Minute)}, count: 3,
			want: []RestartSample{at(2, 20*time.Minute), at(3, time.Minute)}},
		{name: "count reset: starts over", in: []RestartSample{at(9, time.Minute)}, count: 0, want: []RestartSample{at(0, 0)}},
		{name: "bounded: the oldest after the baseline goes", in: []RestartSample{at(1, time.Hour), at(2, 9*time.Minute), at(3, 8*time.Minute), at(4, 7*time.Minute),
			at(5, 6*time.Minute), at(6, 5*time.Minute), at(7, 4*time.Minute), at(8, 3*time.Minute)}, count: 9,
			want: []RestartSample{at(1, time.Hour), at(3, 8*time.Minute), at(4, 7*time.Minute), at(5, 6*time.Minute), at(6, 5*time.Minute),
				at(7, 4*time.Minute), at(8, 3*time.Minute), at(9, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := recordRestarts(append([]RestartSample(nil), tc.in...), tc.count, now, window)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Count != tc.want[i].Count || !got[i].At.Equal(tc.want[i].At) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestRestartHistoryForgets(t *testing.T) {
	h := NewRestartHistory(10 * time.Minute)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 2}}}}
	h.Observe(pod, now.Add(-time.Minute))
	pod.Status.ContainerStatuses[0].RestartCount = 5
	if got := h.Observe(pod, now)["app"]; len(got) != 2 || got[1].Count != 5 {
		t.Fatalf("samples = %v, want 2 then 5", got)
	}
	h.Forget("u1")
	if h.Len() != 0 {
		t.Errorf("history kept %d pods after Forget", h.Len())
	}
	var none *RestartHistory
	if none.Observe(pod, now) != nil {
		t.Error("a nil history observed")
	}
}
