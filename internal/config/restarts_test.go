package config

import (
	"testing"
	"time"
)

func TestContainerRestartingPolicy(t *testing.T) {
	cases := []struct {
		name, yaml, want string
		restarts         int32
		window           time.Duration
	}{
		{name: "defaults", yaml: `detection: {}`, restarts: 3, window: 10 * time.Minute},
		{name: "every key", yaml: `detection: {containerRestarting: {restarts: 5, window: 30m}}`, restarts: 5, window: 30 * time.Minute},
		{name: "bounds", yaml: `detection: {containerRestarting: {restarts: 2, window: 1m}}`, restarts: 2, window: time.Minute},
		{name: "upper bounds", yaml: `detection: {containerRestarting: {restarts: 100, window: 24h}}`, restarts: 100, window: 24 * time.Hour},
		{name: "one restart is not repeated", yaml: `detection: {containerRestarting: {restarts: 1}}`, want: "detection.containerRestarting.restarts"},
		{name: "too many restarts", yaml: `detection: {containerRestarting: {restarts: 101}}`, want: "detection.containerRestarting.restarts"},
		{name: "negative restarts", yaml: `detection: {containerRestarting: {restarts: -3}}`, want: "detection.containerRestarting.restarts"},
		{name: "window too short", yaml: `detection: {containerRestarting: {window: 30s}}`, want: "detection.containerRestarting.window: Invalid value: \"30s\": must be between 1m and 24h"},
		{name: "window too long", yaml: `detection: {containerRestarting: {window: 25h}}`, want: "detection.containerRestarting.window"},
		{name: "negative window", yaml: `detection: {containerRestarting: {window: -10m}}`, want: "detection.containerRestarting.window"},
		{name: "unknown key", yaml: `detection: {containerRestarting: {count: 3}}`, want: "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := parseAs(t, tc.yaml, tc.want)
			if c == nil {
				return
			}
			if p := c.Detection.ContainerRestarting; p.Restarts != tc.restarts || p.Window.Duration != tc.window {
				t.Errorf("policy = %+v, want restarts %d, window %s", p, tc.restarts, tc.window)
			}
		})
	}
}
