// Package podlogs turns the raw tail of a container's log into the bounded, redacted excerpt
// an incident keeps in status.evidence.previousLogs (docs/incidents.md, "Previous container's
// log"), and decides which namespaces opt in. It is pure: no client, no I/O.
//
// The redaction rules are our own: secret scanners (gitleaks, trufflehog) are command-line
// tools whose rule engines scan repositories and files with hundreds of provider rules and
// their configuration stack, not a library that redacts a line; the few rules here are
// written down (docs/incidents.md) and tested line by line.
package podlogs

import (
	"regexp"
)

// Redacted replaces every value a redaction rule matches.
const Redacted = "[REDACTED]"

// rule is one redaction: re's matches are replaced by repl (regexp.Expand syntax; $1 keeps
// the first group, typically the key or the scheme).
type rule struct {
	name string
	re   *regexp.Regexp
	repl string
}

// sensitiveKey matches a key that names a credential: it ends in one of these words
// (case-insensitive, camelCase, snake_case and kebab-case alike), so db_password,
// clientSecret, X-Api-Key and AWS_SECRET_ACCESS_KEY match while tokenizer, token_count,
// max_tokens, passwordless and secretName do not.
const sensitiveKey = `[A-Za-z0-9_.-]*?(?:password|passwd|[_.-]pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?|session[_-]?id)`

// rules is the rule set, applied in order to every line (docs/incidents.md lists them).
var rules = []rule{
	// 1. Authorization headers, any scheme: the scheme stays, the credential goes.
	{"authorization-header", regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)((?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256)\s+)?[^\s"',;]+`), "${1}${2}" + Redacted},
	// 2. A bearer token anywhere else (curl -H, logged request lines).
	{"bearer-token", regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*`), "${1}" + Redacted},
	// 3. JSON (and YAML flow, Python dict) forms: "password": "value", 'token': 123.
	{"json-key", regexp.MustCompile(`(?i)(["'](?:` + sensitiveKey + `)["']\s*:\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}\]]+)`), "${1}\"" + Redacted + "\""},
	// 4. key=value and key: value forms (env dumps, flags, URL query strings, logfmt).
	{"key-value", regexp.MustCompile(`(?i)(\b` + sensitiveKey + `\s*[:=]\s*)(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"',;&]+)`), "${1}" + Redacted},
	// 5. Basic auth in URLs: scheme://user:password@host keeps the user.
	{"url-userinfo", regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@`), "${1}:" + Redacted + "@"},
	// 6. AWS access key IDs (long-term AKIA, temporary ASIA, and the others of the family).
	{"aws-access-key-id", regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b`), Redacted},
	// 7. JSON Web Tokens: three base64url parts, the first two JSON objects ("eyJ").
	{"jwt", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), Redacted},
	// 8. Well-known token formats: GitHub, Slack, Google API keys, Stripe live secret keys.
	{"vendor-token", regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|sk_live_[0-9A-Za-z]{16,})`), Redacted},
}

var (
	pemBegin = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)
	pemEnd   = regexp.MustCompile(`-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----`)
)

// Redact replaces credentials in lines (in place) by [REDACTED] and returns how many values
// it replaced. Every line goes through rules 1-8 in order. A PEM private key block (BEGIN ...
// PRIVATE KEY to END ... PRIVATE KEY) counts as one value and every line of it is replaced,
// also when the excerpt starts inside one (an END line before any BEGIN: every line up to it)
// or ends inside one (a BEGIN line with no END: every line after it). Certificates and public
// keys are kept.
func Redact(lines []string) int {
	n := 0
	inKey, seenBegin := false, false
	for i, line := range lines {
		if inKey {
			lines[i] = Redacted
			inKey = !pemEnd.MatchString(line)
			continue
		}
		if loc := pemBegin.FindStringIndex(line); loc != nil {
			// What precedes the block on its first line (a log prefix) stays, redacted.
			lines[i] = redactLine(line[:loc[0]], &n) + Redacted
			n++
			inKey, seenBegin = !pemEnd.MatchString(line[loc[1]:]), true
			continue
		}
		if !seenBegin && pemEnd.MatchString(line) {
			// The excerpt starts inside a key: every line up to its END is key material.
			for j := 0; j <= i; j++ {
				lines[j] = Redacted
			}
			n, seenBegin = 1, true
			continue
		}
		lines[i] = redactLine(line, &n)
	}
	return n
}

// redactLine applies rules 1-8 to one line, adding the number of replacements to n.
func redactLine(line string, n *int) string {
	for _, r := range rules {
		if m := r.re.FindAllStringIndex(line, -1); len(m) > 0 {
			*n += len(m)
			line = r.re.ReplaceAllString(line, r.repl)
		}
	}
	return line
}
