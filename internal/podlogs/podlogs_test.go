package podlogs

import (
	"strings"
	"testing"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
)

func TestRedactLine(t *testing.T) {
	cases := []struct {
		name, in, want string
		n              int
	}{
		// Authorization headers.
		{"authorization bearer", `GET /api Authorization: Bearer abc.def-ghi_123`, `GET /api Authorization: Bearer [REDACTED]`, 1},
		{"authorization basic quoted", `headers={"Authorization": "Basic dXNlcjpwYXNz"}`, `headers={"Authorization": "Basic [REDACTED]"}`, 1},
		{"authorization no scheme", `authorization=s3cr3tvalue`, `authorization=[REDACTED]`, 1},
		{"proxy authorization", `Proxy-Authorization: Basic Zm9vOmJhcg==`, `Proxy-Authorization: Basic [REDACTED]`, 1},
		{"bearer elsewhere", `curl -H "X: Bearer eyJraWQiOiJ4.abcdefgh"`, `curl -H "X: Bearer [REDACTED]"`, 1},
		// key=value, key: value.
		{"password env", `DB_PASSWORD=hunter2 starting`, `DB_PASSWORD=[REDACTED] starting`, 1},
		{"password logfmt", `level=error msg="login failed" user=bob password="p a s s" code=7`, `level=error msg="login failed" user=bob password=[REDACTED] code=7`, 1},
		{"secret yaml", `  clientSecret: abcdef123456`, `  clientSecret: [REDACTED]`, 1},
		{"token query string", `GET /cb?code=1&access_token=ya29.a0Af&state=x`, `GET /cb?code=1&access_token=[REDACTED]&state=x`, 1},
		{"api key header", `X-Api-Key: 0123456789abcdef`, `X-Api-Key: [REDACTED]`, 1},
		{"aws secret access key", `AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, `AWS_SECRET_ACCESS_KEY=[REDACTED]`, 1},
		{"pwd suffix", `db_pwd=letmein`, `db_pwd=[REDACTED]`, 1},
		{"credentials", `credentials: admin/admin`, `credentials: [REDACTED]`, 1},
		// JSON forms.
		{"json password", `{"user":"bob","password":"hunter2","ok":false}`, `{"user":"bob","password":"[REDACTED]","ok":false}`, 1},
		{"json escaped quote", `{"apiKey": "ab\"cd", "n": 1}`, `{"apiKey": "[REDACTED]", "n": 1}`, 1},
		{"json number token", `{"token": 123456789}`, `{"token": "[REDACTED]"}`, 1},
		{"python dict", `{'refresh_token': 'r1-abc'}`, `{'refresh_token': "[REDACTED]"}`, 1},
		// URLs.
		{"url basic auth", `connecting to postgres://app:s3cret@db:5432/app`, `connecting to postgres://app:[REDACTED]@db:5432/app`, 1},
		{"url basic auth https", `proxy https://u:p%40ss@proxy.example:3128`, `proxy https://u:[REDACTED]@proxy.example:3128`, 1},
		// Key formats.
		{"aws access key id", `using key AKIAIOSFODNN7EXAMPLE for s3`, `using key [REDACTED] for s3`, 1},
		{"aws temporary key id", `ASIAY34FZKBOKMUTVV7A`, `[REDACTED]`, 1},
		{"jwt", `token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U rejected`, `token [REDACTED] rejected`, 1},
		{"jwt alg none", `eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.`, `[REDACTED]`, 1},
		{"github token", `ghp_0123456789abcdefghijABCDEFGHIJ012345`, `[REDACTED]`, 1},
		{"slack token", `posting with xoxb-1234567890-abcdefghij`, `posting with [REDACTED]`, 1},
		{"two secrets", `password=a token=b`, `password=[REDACTED] token=[REDACTED]`, 2},

		// Near misses: kept as they are.
		{"password prose", `password is incorrect for user bob`, `password is incorrect for user bob`, 0},
		{"password empty", `password:`, `password:`, 0},
		{"passwordless", `passwordless=true`, `passwordless=true`, 0},
		{"tokenizer", `tokenizer=bpe`, `tokenizer=bpe`, 0},
		{"token count", `token_count=5 max_tokens=100`, `token_count=5 max_tokens=100`, 0},
		{"secret name", `secretName: db-credentials-ref`, `secretName: db-credentials-ref`, 0},
		{"PWD env", `PWD=/app`, `PWD=/app`, 0},
		{"url port no userinfo", `listening on http://0.0.0.0:8080/healthz`, `listening on http://0.0.0.0:8080/healthz`, 0},
		{"url user no password", `git clone ssh://git@github.com/org/repo`, `git clone ssh://git@github.com/org/repo`, 0},
		{"aws key too short", `AKIAIOSFODNN7EXAMPL`, `AKIAIOSFODNN7EXAMPL`, 0},
		{"aws key lower case", `akiaiosfodnn7example`, `akiaiosfodnn7example`, 0},
		{"not a jwt", `eyJhbGciOiJIUzI1NiJ9 alone`, `eyJhbGciOiJIUzI1NiJ9 alone`, 0},
		{"bearer short word", `the bearer of bad news`, `the bearer of bad news`, 0},
		{"github prefix only", `ghp_short`, `ghp_short`, 0},
		{"plain error", `panic: runtime error: index out of range [3] with length 3`, `panic: runtime error: index out of range [3] with length 3`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{tc.in}
			n := Redact(lines)
			if lines[0] != tc.want || n != tc.n {
				t.Errorf("Redact(%q) = %q, %d; want %q, %d", tc.in, lines[0], n, tc.want, tc.n)
			}
		})
	}
}

func TestRedactPEM(t *testing.T) {
	cases := []struct {
		name      string
		in, want  []string
		redaction int
	}{
		{"whole block",
			[]string{"loading key", "-----BEGIN RSA PRIVATE KEY-----", "MIIEpAIBAAKCAQEA", "abcd", "-----END RSA PRIVATE KEY-----", "done"},
			[]string{"loading key", Redacted, Redacted, Redacted, Redacted, "done"}, 1},
		{"prefix kept on the begin line",
			[]string{"E0101 key=-----BEGIN PRIVATE KEY-----", "MIIE", "-----END PRIVATE KEY-----"},
			[]string{"E0101 key=" + Redacted, Redacted, Redacted}, 1},
		{"excerpt starts inside a key",
			[]string{"MIIEpAIBAAKCAQEA", "abcd", "-----END EC PRIVATE KEY-----", "next"},
			[]string{Redacted, Redacted, Redacted, "next"}, 1},
		{"excerpt ends inside a key",
			[]string{"boom", "-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXk"},
			[]string{"boom", Redacted, Redacted}, 1},
		{"one-line escaped key",
			[]string{`{"key":"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}`, "after"},
			[]string{`{"key":"` + Redacted, "after"}, 1},
		{"certificate kept (near miss)",
			[]string{"-----BEGIN CERTIFICATE-----", "MIIDdzCCAl+gAwIBAgIE", "-----END CERTIFICATE-----"},
			[]string{"-----BEGIN CERTIFICATE-----", "MIIDdzCCAl+gAwIBAgIE", "-----END CERTIFICATE-----"}, 0},
		{"public key kept (near miss)",
			[]string{"-----BEGIN PUBLIC KEY-----", "MFkwEwYH", "-----END PUBLIC KEY-----"},
			[]string{"-----BEGIN PUBLIC KEY-----", "MFkwEwYH", "-----END PUBLIC KEY-----"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := append([]string(nil), tc.in...)
			n := Redact(lines)
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") || n != tc.redaction {
				t.Errorf("Redact = %q, %d; want %q, %d", lines, n, tc.want, tc.redaction)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("x", 600)
	cases := []struct {
		name          string
		raw           string
		complete      bool
		lim           Limits
		want          []string
		truncated     bool
		redacted      int32
		wantLastBytes int
	}{
		{name: "empty", raw: "", complete: true, want: nil},
		{name: "tail lines kept", raw: "a\nb\nc\nd\n", complete: true, lim: Limits{TailLines: 2, LimitBytes: 100}, want: []string{"c", "d"}},
		{name: "crlf and colours", raw: "\x1b[31mERROR\x1b[0m boom\r\nok\r\n", complete: true, want: []string{"ERROR boom", "ok"}},
		{name: "invalid utf-8", raw: "bad \xff byte\n", complete: true, want: []string{"bad \uFFFD byte"}},
		{name: "redacted before stored", raw: "start\npassword=hunter2\n", complete: true, want: []string{"start", "password=[REDACTED]"}, redacted: 1},
		{name: "long line cut", raw: long + "\n", complete: true, want: []string{long[:509] + "..."}, truncated: true},
		{name: "oldest dropped to fit bytes", raw: "aaaa\nbbbb\ncccc\n", complete: true, lim: Limits{TailLines: 10, LimitBytes: 9}, want: []string{"bbbb", "cccc"}, truncated: true},
		{name: "newest alone too big", raw: "aaaa\nbbbbbbbbbb\n", complete: true, lim: Limits{TailLines: 10, LimitBytes: 8}, want: []string{"bbbbb..."}, truncated: true},
		{name: "reader cut", raw: "a\nb\n", complete: false, want: []string{"a", "b"}, truncated: true},
		{name: "limits capped", raw: strings.Repeat("l\n", 200), complete: true, lim: Limits{TailLines: 1000, LimitBytes: 1 << 30}, want: strings.Split(strings.TrimSuffix(strings.Repeat("l\n", MaxTailLines), "\n"), "\n")},
		{name: "defaults", raw: strings.Repeat("l\n", 50), complete: true, want: strings.Split(strings.TrimSuffix(strings.Repeat("l\n", DefaultTailLines), "\n"), "\n")},
		{name: "secret at the cut is redacted whole", raw: strings.Repeat("y", 500) + " token=abcdefghijklmnopqrstuvwxyz\n", complete: true,
			want: []string{strings.Repeat("y", 500) + " token=[R..."}, truncated: true, redacted: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, truncated, redacted := Excerpt([]byte(tc.raw), tc.complete, tc.lim)
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") || len(lines) != len(tc.want) || truncated != tc.truncated || redacted != tc.redacted {
				t.Errorf("Excerpt = %q, truncated %v, redacted %d; want %q, %v, %d", lines, truncated, redacted, tc.want, tc.truncated, tc.redacted)
			}
			total := 0
			for _, l := range lines {
				if len(l) > itopsv1alpha1.MaxLogLine {
					t.Errorf("line of %d bytes", len(l))
				}
				total += len(l)
			}
			if total > MaxLimitBytes {
				t.Errorf("%d bytes in all", total)
			}
		})
	}
}

func TestOptedIn(t *testing.T) {
	cases := []struct {
		mode, annotation string
		want             bool
	}{
		{"", "", false},
		{"", "previous", true},
		{"", "none", false},
		{"", "yes", false},
		{ModeOptIn, "previous", true},
		{ModeAll, "", true},
		{ModeAll, "none", false},
		{ModeAll, "previous", true},
		{ModeDisabled, "previous", false},
		{"Disabled", "previous", false},
	}
	for _, tc := range cases {
		if got := OptedIn(tc.mode, tc.annotation); got != tc.want {
			t.Errorf("OptedIn(%q, %q) = %v, want %v", tc.mode, tc.annotation, got, tc.want)
		}
	}
}
