package config

import (
	"strings"
	"testing"
)

// parseAs parses a policy the way the operator does and fails the test unless the outcome
// is the expected one: valid when want is "", else an error containing want (a field path,
// "unknown field"). It returns the parsed policy when valid, nil when an error was expected.
func parseAs(t *testing.T, yaml, want string) *Config {
	t.Helper()
	c, err := Parse([]byte(yaml))
	switch {
	case want == "" && err != nil:
		t.Fatalf("want valid, got %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("want an error containing %q, got %v", want, err)
	case want != "":
		return nil
	}
	return c
}
