package nfq

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/netnstest"
	"github.com/ftpalg/ftpalg/rewrite"
	"github.com/ftpalg/ftpalg/rules"
)

// TestQueue diverts a loopback TCP connection on port 2121 to a queue and
// checks delivery, plain and modified verdicts, and the counters, against
// the kernel in a throwaway namespace.
func TestQueue(t *testing.T) {
	netnstest.Require(t, "nft")
	ns := netnstest.New(t, "ftq")
	var tb *rules.Table
	if err := ns.Do(func() (err error) {
		tb, err = rules.Open(rules.Spec{Table: "ftpalg", Hooks: []string{rules.HookOutput}, ControlPorts: []uint16{2121},
			QueueNum: 3, QueueCount: 1, FailOpen: false, Mark: 0x2000, ResizedMark: 0x4000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tb.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pkts := make(chan Packet, 256)
	q, err := Open(ctx, Config{Num: 3, NetNS: ns.FD(), Conntrack: true}, func(p Packet) {
		select {
		case pkts <- p:
		default:
			t.Error("test backlog full")
		}
	}, func(err error) { t.Logf("queue error: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	t.Logf("conntrack on queue: %v", q.Conntrack())

	// The verdict side: the server's "ping" becomes "PONG" (same length,
	// checksum fixed by Rebuild); everything else passes unchanged.
	var finished atomic.Bool // after the test's checks, late verdicts may race Close
	report := func(err error) {
		if err != nil && !finished.Load() {
			t.Error(err)
		}
	}
	defer finished.Store(true)
	go func() {
		var v rewrite.Packet
		for p := range pkts {
			if rewrite.Decode(p.Data, &v) == nil && bytes.Equal(v.Payload, []byte("ping")) {
				out := rewrite.Rebuild(p.Data, &v, v.Seq, v.Ack, nil, []byte("PONG"))
				report(q.AcceptModified(p.ID, out))
				continue
			}
			report(q.Accept(p.ID))
		}
	}()

	var ln net.Listener
	var c net.Conn
	if err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", "127.0.0.1:2121"); err != nil {
			return err
		}
		c, err = net.DialTimeout("tcp4", "127.0.0.1:2121", 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("ping"))
	s.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "PONG" {
		t.Fatalf("client read %q, want the modified %q", got, "PONG")
	}
	c.Close()
	// The closing handshake may still be in flight: wait for it to settle.
	var st Stats
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		if st = q.Stats(); st.Verdicts == st.Received {
			break
		}
	}
	if st.Received < 4 || st.Verdicts != st.Received || st.VerdictErrors != 0 {
		t.Fatalf("stats %+v: want every received packet to get one verdict", st)
	}
}
