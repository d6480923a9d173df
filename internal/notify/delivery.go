package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Retry backoff bounds.
const (
	BackoffBase = 5 * time.Second
	BackoffCap  = 5 * time.Minute
)

// Backoff is the wait before the attempt after `attempts` failed ones: exponential from
// BackoffBase, capped at BackoffCap, with "equal jitter" (a random point in the upper half),
// so that deliveries failing together do not retry together. jitter is a number in [0, 1)
// (rand.Float64 in production; fixed in tests).
func Backoff(attempts int32, jitter float64) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	d := BackoffBase
	for i := int32(1); i < attempts && d < BackoffCap; i++ {
		d *= 2
	}
	d = min(d, BackoffCap)
	return d/2 + time.Duration(jitter*float64(d/2))
}

// Jitter is the production source of Backoff's jitter.
func Jitter() float64 { return rand.Float64() }

// Webhook signature headers (docs/notifications.md#signatures).
const (
	HeaderSignature = "X-Itops-Signature"
	HeaderTimestamp = "X-Itops-Timestamp"
	HeaderDelivery  = "X-Itops-Delivery"
)

// Sign returns the X-Itops-Signature value of a webhook body: "sha256=" and the hex
// HMAC-SHA256 of the body under key. The body carries the same timestamp as
// X-Itops-Timestamp (its "timestamp" field), so the signature covers it: a receiver that checks
// the signature, that the two timestamps agree and that they are recent (5 minutes, as Slack
// and Stripe do) cannot be replayed an old delivery.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook delivery the way a receiver should: the signature of the body under
// key (constant-time), and a timestamp header within tolerance of now. bodyTimestamp is the
// body's "timestamp" field, which must equal the header. It returns "" when valid, else why not.
func Verify(key, body []byte, signature, timestampHeader string, bodyTimestamp int64, now time.Time, tolerance time.Duration) string {
	if !hmac.Equal([]byte(Sign(key, body)), []byte(strings.TrimSpace(signature))) {
		return "signature mismatch"
	}
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return "bad timestamp header"
	}
	if ts != bodyTimestamp {
		return "timestamp header differs from the signed body"
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return "timestamp outside the tolerance (replayed or clock skew)"
	}
	return ""
}
