package conntrack

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// Snapshot reports each session's flow, tuples, state, counters and
// pinholes with their remaining time, and changes nothing.
func TestSnapshot(t *testing.T) {
	real := "10.0.0.5:21"
	tuples := Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: mustAP(real), Dst: cliAddr}}
	for _, tc := range []struct {
		name      string
		nat       bool
		script    func(l *lab)
		state     []string
		rewrites  uint64
		refusals  uint64
		pinholes  int
		remaining time.Duration
		natKnown  bool
	}{
		{name: "handshake only", script: func(l *lab) { l.handshake() }, state: []string{StateNew}},
		{name: "greeted", script: login, state: []string{StateGreeted}},
		{name: "pasv", script: func(l *lab) {
			login(l)
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
			l.tick(10 * time.Second)
		}, state: []string{StateGreeted}, pinholes: 1, remaining: 20 * time.Second},
		{name: "pasv behind DNAT", nat: true, script: func(l *lab) {
			login(l)
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
		}, state: []string{StateGreeted}, rewrites: 1, pinholes: 1, remaining: 30 * time.Second, natKnown: true},
		{name: "resized", nat: true, script: func(l *lab) {
			login(l)
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 (10,0,0,5,195,80).\r\n")
		}, state: []string{StateGreeted, StateResized}, rewrites: 1, pinholes: 1, remaining: 30 * time.Second, natKnown: true},
		{name: "refused low port", script: func(l *lab) {
			login(l)
			l.send(FromClient, "PORT 198,51,100,7,0,80\r\n")
		}, state: []string{StateGreeted}, refusals: 1},
		{name: "closing", script: func(l *lab) {
			login(l)
			l.send(FromClient, "QUIT\r\n")
			l.send(FromServer, "221 Goodbye.\r\n")
		}, state: []string{StateGreeted, StateQuit, StateClosing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l *lab
			if tc.nat {
				l = newLab(t, Config{NAT: fakeNAT{tuples}}, cliAddr, mustAP(real))
			} else {
				l = newLab(t, Config{}, cliAddr, srvAddr)
			}
			tc.script(l)
			before := l.tr.Stats
			got := l.tr.Snapshot(l.now, nil)
			if l.tr.Stats != before {
				t.Fatalf("Snapshot changed the stats: %+v -> %+v", before, l.tr.Stats)
			}
			if len(got) != 1 {
				t.Fatalf("%d sessions, want 1: %+v", len(got), got)
			}
			s := got[0]
			want := Flow{Client: cliAddr, Server: srvAddr}
			if tc.nat {
				want.Server = mustAP(real)
			}
			if s.Flow != want || s.ID == 0 {
				t.Errorf("flow %v id %d, want %v", s.Flow, s.ID, want)
			}
			if s.NATKnown != tc.natKnown {
				t.Errorf("NATKnown %v, want %v", s.NATKnown, tc.natKnown)
			}
			if tc.natKnown && s.Tuples != tuples {
				t.Errorf("tuples %+v, want %+v", s.Tuples, tuples)
			} else if !tc.natKnown && s.Tuples != IdentityTuples(s.Flow) {
				t.Errorf("tuples %+v, want identity", s.Tuples)
			}
			if !slices.Equal(s.State, tc.state) {
				t.Errorf("state %v, want %v", s.State, tc.state)
			}
			if s.Rewrites != tc.rewrites || s.Refusals != tc.refusals {
				t.Errorf("rewrites %d refusals %d, want %d %d", s.Rewrites, s.Refusals, tc.rewrites, tc.refusals)
			}
			if len(s.Pinholes) != tc.pinholes {
				t.Fatalf("pinholes %+v, want %d", s.Pinholes, tc.pinholes)
			}
			for _, p := range s.Pinholes {
				if p.Remaining != tc.remaining || p.ID == 0 || p.Attached || !p.Pinhole.Src.IsValid() {
					t.Errorf("pinhole %+v, want %v remaining", p, tc.remaining)
				}
				if tc.nat && (!p.HasMap || p.Mapping.ToDst != mustAP("10.0.0.5:50000")) {
					t.Errorf("pinhole %+v: want a mapping to 10.0.0.5:50000", p)
				}
			}
		})
	}
}

// Several sessions come back sorted by ID; dst is reused; an attached
// pinhole says so.
func TestSnapshotSortedAndAttached(t *testing.T) {
	tr, err := NewTracker(Config{Policy: DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	var labs []*lab
	for i := range 5 {
		l := &lab{t: t, tr: tr, now: now, held: map[uint64][]byte{},
			ep: [2]*endpoint{{addr: netip.AddrPortFrom(cliAddr.Addr(), uint16(40000+i)), isn: 1000, sndNxt: 1000}, {addr: srvAddr, isn: 7, sndNxt: 7}}}
		login(l)
		labs = append(labs, l)
	}
	labs[2].send(FromClient, "PASV\r\n")
	labs[2].send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	labs[2].send(FromClient, "RETR f\r\n")
	buf := make([]SessionInfo, 0, 8)
	got := tr.Snapshot(now, buf)
	if len(got) != 5 || &got[0] != &buf[:1][0] {
		t.Fatalf("%d sessions (want 5), dst reused: %v", len(got), &got[0] == &buf[:1][0])
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].ID >= got[i].ID {
			t.Fatalf("not sorted by ID: %d before %d", got[i-1].ID, got[i].ID)
		}
	}
	for _, s := range got {
		if s.Flow.Client.Port() == 40002 {
			if len(s.Pinholes) != 1 || !s.Pinholes[0].Attached {
				t.Fatalf("session with RETR: pinholes %+v, want one attached", s.Pinholes)
			}
		} else if len(s.Pinholes) != 0 {
			t.Fatalf("session %v: pinholes %+v", s.Flow, s.Pinholes)
		}
	}
	if n := len(tr.Snapshot(now, got)); n != 5 {
		t.Fatalf("second snapshot: %d", n)
	}
	if s := strings.Join(got[0].State, ","); s != StateGreeted {
		t.Fatalf("state %q", s)
	}
}
