package podlogs

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

// Capture modes of the policy's detection.evidenceLogs.mode.
const (
	// ModeOptIn captures logs only in namespaces annotated itops.dev/evidence-logs: previous
	// (the default).
	ModeOptIn = "OptIn"
	// ModeAll captures logs in every namespace but those annotated itops.dev/evidence-logs: none.
	ModeAll = "All"
	// ModeDisabled captures no logs, whatever the annotations say (not "Off": YAML reads an
	// unquoted Off as false).
	ModeDisabled = "Disabled"
)

// Default and maximum bounds of an excerpt (the policy's tailLines and limitBytes).
const (
	DefaultTailLines  = 20
	DefaultLimitBytes = 4096
	MaxTailLines      = itopsv1alpha1.MaxLogExcerptLines
	MaxLimitBytes     = itopsv1alpha1.MaxLogExcerptBytes
	// ReadLimit is how many bytes of log the reader accepts from the API server (its
	// limitBytes): enough for MaxTailLines long lines; more is cut and marks the excerpt
	// truncated.
	ReadLimit = 64 << 10
)

// Limits bound an excerpt.
type Limits struct {
	// TailLines is how many of the last lines are kept (1..MaxTailLines).
	TailLines int64
	// LimitBytes bounds the kept lines' bytes together (1..MaxLimitBytes); older lines are
	// dropped first.
	LimitBytes int64
}

// OptedIn reports whether a namespace's incidents capture logs under mode (ModeOptIn when
// empty), given the value of its itops.dev/evidence-logs annotation ("" when absent).
func OptedIn(mode, annotation string) bool {
	switch mode {
	case ModeDisabled:
		return false
	case ModeAll:
		return annotation != itopsv1alpha1.EvidenceLogsNone
	default:
		return annotation == itopsv1alpha1.EvidenceLogsPrevious
	}
}

// ansiEscape matches terminal colour and cursor sequences (CSI), which say nothing in status.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[\x20-\x2f]*[\x40-\x7e]`)

// Excerpt turns raw, the tail of a container's log as the kubelet served it (complete: false
// when the reader stopped at ReadLimit and the newest lines may be missing), into the excerpt
// stored on the incident:
//
//  1. lines split at \n (a trailing \r dropped), terminal escape sequences removed, invalid
//     UTF-8 replaced by U+FFFD;
//  2. the last lim.TailLines lines kept;
//  3. credentials redacted (Redact), before anything is cut, so that a cut never exposes half
//     a secret that a rule would have matched whole;
//  4. each line cut at itopsv1alpha1.MaxLogLine bytes (on a rune boundary, ending in "...");
//  5. the oldest lines dropped until all fit in lim.LimitBytes (at least the newest line is
//     kept, cut to lim.LimitBytes).
//
// Truncated is set when step 4 or 5 lost text, or when complete is false.
func Excerpt(raw []byte, complete bool, lim Limits) (lines []string, truncated bool, redacted int32) {
	lim = lim.bounded()
	text := strings.ToValidUTF8(string(bytes.TrimRight(raw, "\n")), "\uFFFD")
	if text == "" {
		return nil, !complete, 0
	}
	all := strings.Split(text, "\n")
	if int64(len(all)) > lim.TailLines {
		all = all[int64(len(all))-lim.TailLines:]
	}
	for i, l := range all {
		all[i] = ansiEscape.ReplaceAllString(strings.TrimSuffix(l, "\r"), "")
	}
	redacted = int32(Redact(all)) //nolint:gosec // at most a few thousand
	truncated = !complete
	for i, l := range all {
		if len(l) > itopsv1alpha1.MaxLogLine {
			all[i], truncated = cut(l, itopsv1alpha1.MaxLogLine), true
		}
	}
	size := int64(0)
	first := len(all)
	for first > 0 && size+int64(len(all[first-1])) <= lim.LimitBytes {
		first--
		size += int64(len(all[first]))
	}
	if first == len(all) {
		// Even the newest line alone is over the limit: keep it, cut.
		all[len(all)-1], first = cut(all[len(all)-1], int(lim.LimitBytes)), len(all)-1
	}
	if first > 0 {
		truncated = true
	}
	return all[first:], truncated, redacted
}

func (l Limits) bounded() Limits {
	if l.TailLines <= 0 {
		l.TailLines = DefaultTailLines
	}
	if l.LimitBytes <= 0 {
		l.LimitBytes = DefaultLimitBytes
	}
	l.TailLines = min(l.TailLines, MaxTailLines)
	l.LimitBytes = min(l.LimitBytes, MaxLimitBytes)
	return l
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut with "...".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return s[:0]
	}
	c := n - 3
	for c > 0 && !utf8.RuneStart(s[c]) {
		c--
	}
	return s[:c] + "..."
}
