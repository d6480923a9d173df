package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// freePort returns a TCP port that is free on every interface now, for a process started a
// moment later (kube-controller-manager, the scheduler, kwok, the operator's probes and
// webhook server).
//
// The port is taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
// 32768-60999 by default), never from it: a port chosen by listening on ":0" comes from
// that range, and between its release and the child's bind an outgoing connection of any
// process on the machine (a test suite beside the demo, say) may get it as its local port,
// which makes the bind fail with "address already in use". The operator's webhook port
// stays reserved for the whole run and is bound again after every restart, so it is the
// most exposed. Ports below the range are only ever taken by an explicit bind.
//
// Errors: none in practice; after 200 refused candidates it falls back to an ephemeral port.
func freePort() (int, error) {
	low := ephemeralLow()
	const floor = 10000
	if low-floor > 1000 {
		for range 200 {
			p := floor + rand.IntN(low-floor) //nolint:gosec // a port number, not a secret
			if portFree(p) {
				return p, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether port can be listened on, on all interfaces (as the operator's
// webhook server binds ":port") and on loopback.
func portFree(port int) bool {
	for _, addr := range []string{":" + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port)} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when it cannot be
// read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var low, high int
	if _, err := fmt.Sscan(strings.TrimSpace(string(data)), &low, &high); err != nil || low <= 0 {
		return 32768
	}
	return low
}
