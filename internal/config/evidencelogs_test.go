package config

import (
	"testing"
)

func TestEvidenceLogsPolicy(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       string // "" means valid
	}{
		{"defaults", `{}`, ""},
		{"all", `detection: {evidenceLogs: {mode: All, tailLines: 100, limitBytes: 16384}}`, ""},
		{"disabled", `detection: {evidenceLogs: {mode: Disabled}}`, ""},
		{"bad mode", `detection: {evidenceLogs: {mode: Always}}`, "detection.evidenceLogs.mode: Unsupported value"},
		{"too many lines", `detection: {evidenceLogs: {tailLines: 101}}`, "detection.evidenceLogs.tailLines"},
		{"negative lines", `detection: {evidenceLogs: {tailLines: -1}}`, "detection.evidenceLogs.tailLines"},
		{"too many bytes", `detection: {evidenceLogs: {limitBytes: 65536}}`, "detection.evidenceLogs.limitBytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := parseAs(t, tc.yaml, tc.want)
			if tc.name == "defaults" {
				if p := c.Detection.EvidenceLogs; p.Mode != "OptIn" || p.TailLines != 20 || p.LimitBytes != 4096 {
					t.Fatalf("defaults: %+v", p)
				}
			}
		})
	}
}
