package conntrack

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// checkTimers checks the expiry heap of tr: every session is in it once,
// in heap order, keyed no later than its deadline; after a Tick at now,
// nothing in it is overdue.
func checkTimers(t *testing.T, tr *Tracker, now time.Time, ticked bool) {
	t.Helper()
	h := tr.timers.h
	if len(h) != len(tr.sessions) {
		t.Fatalf("%d sessions in the heap, %d in the table", len(h), len(tr.sessions))
	}
	for i, e := range h {
		if int(e.s.timer) != i+1 || tr.sessions[e.s.flow] != e.s {
			t.Fatalf("heap entry %d: session %d, index %d", i, e.s.id, e.s.timer)
		}
		if i > 0 && h.less(i, (i-1)/2) {
			t.Fatalf("heap order broken at %d", i)
		}
		d := e.s.deadline(&tr.pol)
		if k := tr.timers.key(d); e.at > k {
			t.Fatalf("session %d keyed %v after its deadline %v", e.s.id, e.at, k)
		}
		if ticked && !now.Before(d) {
			t.Fatalf("session %d overdue after a Tick: deadline %v, now %v", e.s.id, d, now)
		}
	}
}

// TestTimersKeepDeadlines drives sessions through packets, pinholes
// (PASV and 227), ends, idle time and policy changes, checking the heap
// after every step.
func TestTimersKeepDeadlines(t *testing.T) {
	const n = 50
	rng := rand.New(rand.NewSource(1))
	st := newScaleTable(t, n, DefaultPolicy())
	pasv := buildPacket(cliAddr, srvAddr, 0, 0, 0x18, []byte("PASV\r\n"))
	quit := buildPacket(cliAddr, srvAddr, 0, 0, 0x18, []byte("QUIT\r\n"))
	bye := buildPacket(srvAddr, cliAddr, 0, 0, 0x18, []byte("221 Bye.\r\n"))
	fin := buildPacket(srvAddr, cliAddr, 0, 0, 0x11, nil)
	open := func(i int) {
		if st.tr.sessions[Flow{Client: st.clientAP(i), Server: srvAddr}] == nil {
			st.open(i)
		}
	}
	send := func(i int, dir Dir, b []byte, payload int) {
		if dir == FromClient {
			st.tr.Process(st.packet(b, i, dir, st.cseq[i], st.sseq[i]), 1, st.now, &st.res)
			st.cseq[i] += uint32(payload)
		} else {
			st.tr.Process(st.packet(b, i, dir, st.sseq[i], st.cseq[i]), 2, st.now, &st.res)
			st.sseq[i] += uint32(payload)
		}
	}
	opened, ended := 0, 0
	for step := 0; step < 20000; step++ {
		i := rng.Intn(n)
		ticked := false
		switch op := rng.Intn(10); {
		case op < 3:
			open(i)
			st.round(i)
		case op < 5:
			open(i)
			send(i, FromClient, pasv, 6)
			p := 1024 + rng.Intn(60000)
			rep := buildPacket(srvAddr, cliAddr, 0, 0, 0x18, []byte(fmt.Sprintf("227 Entering Passive Mode (203,0,113,10,%d,%d).\r\n", p>>8, p&255)))
			send(i, FromServer, rep, len(rep)-40)
			opened += len(st.res.Effects)
		case op == 5:
			open(i)
			send(i, FromClient, quit, 6)
			send(i, FromServer, bye, 10)
			send(i, FromServer, fin, 1) // ends the session: it lingers
		case op == 6:
			pol := st.tr.Policy()
			pol.SessionIdle = time.Duration(1+rng.Intn(600)) * time.Second
			pol.ClosedLinger = time.Duration(1+rng.Intn(200)) * time.Second
			if err := st.tr.SetPolicy(pol); err != nil {
				t.Fatal(err)
			}
		default:
			st.now = st.now.Add(time.Duration(rng.Intn(40_000)) * time.Millisecond)
			st.tr.Tick(st.now, &st.res)
			ticked = true
		}
		checkTimers(t, st.tr, st.now, ticked)
		for _, s := range st.tr.sessions {
			if s.ended {
				ended++
				break
			}
		}
	}
	if opened == 0 || st.tr.Stats.PinholesClosed == 0 || ended == 0 {
		t.Fatalf("the walk did too little: %d open effects, stats %+v", opened, st.tr.Stats)
	}
}
