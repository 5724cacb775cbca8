package conntrack

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// SetPolicy: a session already running gets the new policy at its next
// announcement; an invalid policy changes nothing.
func TestSetPolicy(t *testing.T) {
	high := DefaultPolicy()
	high.MinDataPort = 60000
	short := DefaultPolicy()
	short.PinholeTimeout = 5 * time.Second
	reset := DefaultPolicy()
	reset.Violation = ViolationReset
	bad := DefaultPolicy()
	bad.MaxPinholes = 0
	for _, tc := range []struct {
		name    string
		pol     Policy
		err     string
		refused Reason
		timeout time.Duration
		reset   bool
	}{
		{name: "same", pol: DefaultPolicy(), timeout: 30 * time.Second},
		{name: "min data port raised", pol: high, refused: ReasonLowPort},
		{name: "pinhole timeout", pol: short, timeout: 5 * time.Second},
		{name: "violation reset", pol: func() Policy { p := reset; p.MinDataPort = 60000; return p }(), refused: ReasonLowPort, reset: true},
		{name: "invalid", pol: bad, err: "max pinholes", timeout: 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
			if len(l.effects(EffOpenPinhole)) != 1 {
				t.Fatalf("first PASV: %+v", l.Effects)
			}
			l.clearLog()
			err := l.tr.SetPolicy(tc.pol)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("SetPolicy: %v, want %q", err, tc.err)
				}
				if l.tr.Policy() != DefaultPolicy() {
					t.Fatalf("a refused policy was applied: %+v", l.tr.Policy())
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := l.tr.Snapshot(l.now, nil); len(got) != 1 || len(got[0].Pinholes) != 1 || got[0].Pinholes[0].Remaining != 30*time.Second {
				t.Fatalf("the open pinhole changed: %+v", got)
			}
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,81).\r\n")
			v := l.effects(EffViolation)
			if tc.refused != ReasonNone {
				if len(v) != 1 || v[0].Reason != tc.refused {
					t.Fatalf("second PASV: violations %+v, want %v", v, tc.refused)
				}
				if got := len(l.effects(EffReset)) > 0; got != tc.reset {
					t.Fatalf("reset %v, want %v: %+v", got, tc.reset, l.Effects)
				}
				return
			}
			o := l.effects(EffOpenPinhole)
			if len(v) != 0 || len(o) != 1 || o[0].Timeout != tc.timeout {
				t.Fatalf("second PASV: opens %+v violations %+v, want one open with %v", o, v, tc.timeout)
			}
		})
	}
}

// A lowered session_idle removes an idle session at the next Tick.
func TestSetPolicyIdle(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.tick(time.Minute)
	if l.tr.Sessions() != 1 {
		t.Fatal("session gone early")
	}
	p := DefaultPolicy()
	p.SessionIdle = 30 * time.Second
	if err := l.tr.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	l.tick(100 * time.Millisecond)
	if l.tr.Sessions() != 0 {
		t.Fatal("idle session stays after session_idle was lowered")
	}
}

// SetControl: new ports are inspected, removed ones are not; a session
// takes its port's new TLS rule for its next AUTH; bad input changes
// nothing.
func TestSetControl(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ports []uint16
		tls   map[uint16]TLSRule
		err   string
		// the next AUTH of the running session on port 21
		authBlocked bool
	}{
		{name: "block on 21", ports: []uint16{21, 2121}, tls: map[uint16]TLSRule{21: {Mode: TLSBlock}}, authBlocked: true},
		{name: "allow on 21", ports: []uint16{21, 2121}, tls: nil},
		{name: "no ports", ports: nil, err: "no control port"},
		{name: "port 0", ports: []uint16{21, 0}, err: "port 0"},
		{name: "twice", ports: []uint16{21, 21}, err: "twice"},
		{name: "bad range", ports: []uint16{21}, tls: map[uint16]TLSRule{21: {Mode: TLSPassthroughRange, PassiveLo: 9, PassiveHi: 1}}, err: "passive ports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{TLS: map[uint16]TLSRule{21: {Mode: TLSAllow}}}, cliAddr, srvAddr)
			login(l)
			err := l.tr.SetControl(tc.ports, tc.tls)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("SetControl: %v, want %q", err, tc.err)
				}
				if !slices.Equal(l.tr.ControlPorts(), []uint16{21}) {
					t.Fatalf("ports changed to %v", l.tr.ControlPorts())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.tr.ControlPorts(), tc.ports) {
				t.Fatalf("ports %v, want %v", l.tr.ControlPorts(), tc.ports)
			}
			l.clearLog()
			l.send(FromClient, "AUTH TLS\r\n")
			var rewrote bool
			for _, e := range l.Events {
				rewrote = rewrote || e.Reason == ReasonTLSBlocked
			}
			if rewrote != tc.authBlocked {
				t.Fatalf("AUTH blocked %v (server got %q), want %v; events %+v", rewrote, l.ep[FromServer].rcv, tc.authBlocked, l.Events)
			}
		})
	}
}

// A port added by SetControl starts sessions; a removed one does not.
func TestSetControlPorts(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, mustAP("203.0.113.10:2121"))
	l.handshake()
	if l.tr.Sessions() != 0 {
		t.Fatal("session on a port that is not a control port")
	}
	if err := l.tr.SetControl([]uint16{2121}, nil); err != nil {
		t.Fatal(err)
	}
	l.ep[FromClient].addr = mustAP("198.51.100.7:40001")
	l.ep[FromClient].sndNxt, l.ep[FromServer].sndNxt = 5000, 9000
	l.handshake()
	if l.tr.Sessions() != 1 {
		t.Fatalf("%d sessions on the added port, want 1", l.tr.Sessions())
	}
}
