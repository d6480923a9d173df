package config

import (
	"strings"
	"testing"
)

func TestNotificationPolicy(t *testing.T) {
	c, err := Parse([]byte(`
notifications:
  receivers:
  - name: pd
    pagerduty: {routingKeySecretRef: {name: pd, key: routingKey}}
  - name: mail
    email: {smtp: {host: smtp.example}, from: itops@example, to: [oncall@example]}
  routes:
  - name: pages
    match: {priorities: [P1], namespaceSelector: {matchLabels: {tier: prod}}}
    receivers: [pd]
    repeatInterval: 30m
    escalation: mail
`))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notifications
	if n.Receivers[0].PagerDuty.URL != DefaultPagerDutyURL || n.Receivers[1].Email.SMTP.Port != 587 || n.Receivers[0].Timeout.Duration != DefaultReceiverTimeout ||
		n.Receivers[0].RateLimit.PerMinute != 60 || n.Receivers[0].RateLimit.Burst != 20 || n.Receivers[0].MaxAttempts != 12 {
		t.Fatalf("defaults not applied: %+v", n.Receivers)
	}
	if got := n.EscalationReceivers("pages"); len(got) != 1 || got[0] != "pd" {
		t.Fatalf("escalation to a route: %v", got)
	}
	if got := n.EscalationReceivers("mail"); len(got) != 1 || got[0] != "mail" {
		t.Fatalf("escalation to a receiver: %v", got)
	}
}

func TestNotificationPolicyErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`notifications: {receivers: [{name: x, webhook: {url: "https://a"}, slack: {webhookURLSecretRef: {name: s, key: u}}}]}`, `notifications.receivers[0]: Invalid value: "x": exactly one of webhook, slack, pagerduty, email must be set (found 2)`},
		{`notifications: {receivers: [{name: x}]}`, `exactly one of webhook, slack, pagerduty, email must be set (found 0)`},
		{`notifications: {receivers: [{name: X_1, webhook: {url: "https://a"}}]}`, `notifications.receivers[0].name: Invalid value: "X_1"`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://a"}}, {name: a, webhook: {url: "https://b"}}]}`, `notifications.receivers[1].name: Duplicate value: "a"`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://user:pw@a"}}]}`, `must not carry credentials: put them in a Secret`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://a"}}], routes: [{receivers: [pager]}]}`, `notifications.routes[0].receivers[0]: Not found: "pager"`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://a"}}], routes: [{receivers: [a], repeatInterval: 10s}]}`, `notifications.routes[0].repeatInterval: Invalid value: "10s": must be 0 (never) or at least 1m`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://a"}}], routes: [{receivers: [a], match: {priorities: [P0]}}]}`, `notifications.routes[0].match.priorities[0]: Unsupported value: "P0"`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://a"}}], routes: [{receivers: [a], escalation: nobody}]}`, `notifications.routes[0].escalation: Not found: "nobody"`},
		{`notifications: {receivers: [{name: a, slack: {webhookURLSecretRef: {name: s}}}]}`, `notifications.receivers[0].slack.webhookURLSecretRef.key: Required value`},
		{`notifications: {receivers: [{name: a, email: {smtp: {host: h, username: u}, from: f, to: [t]}}]}`, `username and passwordSecretRef go together`},
		{`notifications: {receivers: [{name: a, webhook: {url: "https://a"}, rateLimit: {perMinute: 0}}]}`, `notifications.receivers[0].rateLimit.perMinute: Invalid value: 0: must be between 1 and 60000`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.doc, err, c.want)
		}
	}
}
