package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/nfq"
)

// checkReload: which keys can change live, which cannot, and a file that
// fails validation.
func TestCheckReload(t *testing.T) {
	cur := config.Default()
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
		key    string // "" if the reload is allowed
	}{
		{"nothing", func(c *config.Config) {}, ""},
		{"log.level", func(c *config.Config) { c.Log.Level = slog.LevelDebug }, ""},
		{"policy.min_data_port", func(c *config.Config) { c.Policy.MinDataPort = 40000 }, ""},
		{"policy limits", func(c *config.Config) {
			c.Policy.MaxPinholes, c.Policy.MaxClientPinholes, c.Policy.MaxTotalPinholes = 2, 3, 4
		}, ""},
		{"policy.violation", func(c *config.Config) { c.Policy.Violation = conntrack.ViolationReset }, ""},
		{"timeouts", func(c *config.Config) {
			c.Pinhole.Timeout, c.Policy.PinholeTimeout = 5*time.Second, 5*time.Second
			c.Policy.SessionIdle, c.Policy.ClosedLinger, c.Policy.HoldTimeout = time.Minute, time.Second, time.Second
		}, ""},
		{"control ports", func(c *config.Config) { c.ControlPorts = []uint16{21, 2121} }, ""},
		{"tls policy", func(c *config.Config) { c.TLS = map[uint16]conntrack.TLSRule{21: {Mode: conntrack.TLSAllow}} }, ""},
		{"memory_limit", func(c *config.Config) { c.MemoryLimit = 48 << 20 }, ""},
		{"invalid memory_limit", func(c *config.Config) { c.MemoryLimit = 1 << 20 }, "memory_limit"},
		{"log.format", func(c *config.Config) { c.Log.Format = "json" }, "log.format"},
		{"queue.num", func(c *config.Config) { c.Queue.Num = 5 }, "queue.num"},
		{"queue.count", func(c *config.Config) { c.Queue.Count = 2 }, "queue.count"},
		{"queue.fail_open", func(c *config.Config) { c.Queue.FailOpen = false }, "queue.fail_open"},
		{"queue.max_len", func(c *config.Config) { c.Queue.MaxLen = 100 }, "queue.max_len"},
		{"hooks", func(c *config.Config) { c.Hooks = []string{"input", "output"} }, "hooks"},
		{"table", func(c *config.Config) { c.Table = "other" }, "table"},
		{"pinhole.mark", func(c *config.Config) { c.Pinhole.Mark = 0x1 }, "pinhole.mark"},
		{"divert.resized_mark", func(c *config.Config) { c.Divert.ResizedMark = 0x1 }, "divert.resized_mark"},
		{"status.socket", func(c *config.Config) { c.Status.Socket = "/run/other.sock" }, "status.socket"},
		{"metrics.listen", func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:9127" }, "metrics.listen"},
		{"invalid policy", func(c *config.Config) { c.Policy.MaxPinholes = 0 }, "policy"},
		{"invalid mark", func(c *config.Config) { c.Pinhole.Mark = 0 }, "pinhole.mark"},
		{"pinhole timeout out of step", func(c *config.Config) { c.Pinhole.Timeout = time.Minute }, "pinhole.timeout"},
		{"immutable and live", func(c *config.Config) { c.Policy.MinDataPort = 40000; c.Table = "x" }, "table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := config.Default()
			tc.change(&next)
			err := checkReload(cur, next)
			if tc.key == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *ReloadError
			if !errors.As(err, &re) || re.Key != tc.key {
				t.Fatalf("err %v, want a ReloadError for %s", err, tc.key)
			}
		})
	}
}

// Every immutable key says why, for the log line. (A Config field added
// later and listed nowhere is refused by checkReload under its field
// name, never applied or ignored silently.)
func TestImmutableKeysHaveReasons(t *testing.T) {
	for _, k := range immutableKeys {
		if k.why == "" || k.key == "" {
			t.Errorf("%q: no reason", k.key)
		}
	}
}

// portTable is the worker tests' fake table that can change its control
// ports.
type portTable struct {
	*recorder
	set [][]uint16
}

func (p *portTable) SetControlPorts(ports []uint16) error {
	p.set = append(p.set, ports)
	return nil
}

// runTestWorker runs w's loop as the engine would, until the test ends.
func runTestWorker(t *testing.T, w *worker) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	w.d.running.Store(true)
}

// pasvSession runs a PASV session through w up to its 227, on the test's
// goroutine (before runTestWorker).
func pasvSession(t *testing.T, w *worker) {
	pasvExchange(t, w, public, "227 Entering Passive Mode (10,0,0,2,195,80).\r\n", true)
}

// The sequence numbers and lines of pasvExchange.
const (
	exC0, exS0         = 1000, 5000
	exGreeting, exPASV = "220 ready\r\n", "PASV\r\n"
)

// pasvExchange feeds w a control connection from client to server, which
// conntrack knows as client to origDst (public: DNAT): handshake (with
// the client's ACK if ack), greeting, PASV and reply, then extra, as
// packets 1, 2, ... in that order.
func pasvExchange(t *testing.T, w *worker, origDst netip.AddrPort, reply string, ack bool, extra ...[]byte) {
	w.d.cache.Put(ctnetlink.Info{Proto: 6,
		Orig:  conntrack.Tuple{Src: client, Dst: origDst},
		Reply: conntrack.Tuple{Src: server, Dst: client}})
	const c0, s0 = exC0, exS0
	pkts := [][]byte{tcp(t, true, c0, 0, true, ""), tcp(t, false, s0, c0+1, true, "")}
	if ack {
		pkts = append(pkts, tcp(t, true, c0+1, s0+1, false, ""))
	}
	pkts = append(pkts,
		tcp(t, false, s0+1, c0+1, false, exGreeting),
		tcp(t, true, c0+1, s0+1+uint32(len(exGreeting)), false, exPASV),
		tcp(t, false, s0+1+uint32(len(exGreeting)), c0+1+uint32(len(exPASV)), false, reply))
	for i, p := range append(pkts, extra...) {
		w.packet(nfq.Packet{ID: uint32(i + 1), Data: p})
	}
}

// Status goes through the worker's inbox and reports the session, its
// NAT views and its pinhole with the time left.
func TestStatus(t *testing.T) {
	var logs bytes.Buffer
	w, _ := newTestWorker(t, &logs)
	pasvSession(t, w)
	if got := w.d.Status(); got.Error == "" {
		t.Fatalf("status before running: %+v", got)
	}
	runTestWorker(t, w)
	r := w.d.Status()
	if r.Error != "" || len(r.Sessions) != 1 || len(r.Queues) != 1 {
		t.Fatalf("status %+v\nlogs:\n%s", r, logs.String())
	}
	s := r.Sessions[0]
	if s.Client != client || s.Server != server || !s.NATKnown || s.Orig.Dst != public || s.Reply.Src != server {
		t.Fatalf("session %+v", s)
	}
	if strings.Join(s.State, ",") != "greeted" || s.Rewrites != 1 || s.TLS != "block" {
		t.Fatalf("session %+v", s)
	}
	if len(s.Pinholes) != 1 || s.Pinholes[0].RemainingSeconds <= 25 || s.Pinholes[0].RemainingSeconds > 30 || s.Pinholes[0].Mapping == nil {
		t.Fatalf("pinholes %+v", s.Pinholes)
	}
	if r.Totals.Sessions != 1 || r.Totals.Pinholes != 1 || r.Totals.Rewrites != 1 || r.Queues[0].Packets != 6 || r.Queues[0].Sessions != 1 {
		t.Fatalf("totals %+v queues %+v", r.Totals, r.Queues)
	}
}

// Reload pushes the policy and the control ports to the worker, which
// applies them on its goroutine; a refused reload changes nothing.
func TestReload(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	d := w.d
	table := &portTable{recorder: rec}
	d.table = table
	d.cur.Store(&d.cfg)
	var level slog.LevelVar
	d.Level = &level
	pasvSession(t, w)
	runTestWorker(t, w)

	bad := config.Default()
	bad.Table = "other"
	bad.Policy.MinDataPort = 60000
	if err := d.Reload(bad); err == nil || !strings.Contains(err.Error(), "table") {
		t.Fatalf("Reload(table changed): %v", err)
	}
	next := config.Default()
	next.Log.Level = slog.LevelWarn
	next.Policy.MinDataPort = 60000
	next.Policy.ClosedLinger = 7 * time.Second
	next.ControlPorts = []uint16{21, 2121}
	next.TLS = map[uint16]conntrack.TLSRule{2121: {Mode: conntrack.TLSAllow}}
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	if level.Level() != slog.LevelWarn {
		t.Fatalf("level %v", level.Level())
	}
	if fmt.Sprint(table.set) != "[[21 2121]]" {
		t.Fatalf("table ports %v", table.set)
	}
	if !d.isControl(2121) {
		t.Fatal("engine does not see port 2121")
	}
	got := make(chan string, 1)
	w.send(ctlMsg{kind: ctlRun, run: func(w *worker, now time.Time) {
		got <- fmt.Sprint(w.tr.Policy().MinDataPort, w.trans.ResetTimeout, w.tr.ControlPorts())
	}})
	if s := <-got; s != "60000 7s [21 2121]" {
		t.Fatalf("worker state %q", s)
	}
	// The session and its pinhole are still there.
	if r := d.Status(); len(r.Sessions) != 1 || len(r.Sessions[0].Pinholes) != 1 {
		t.Fatalf("after reload: %+v", r)
	}
}
