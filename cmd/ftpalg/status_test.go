package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/gateway"
)

func TestPrintStatus(t *testing.T) {
	ap := netip.MustParseAddrPort
	r := gateway.StatusReply{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Table: "inet ftpalg",
		Sessions: []gateway.SessionStatus{{
			Queue: 0, ID: 3, Client: ap("198.51.100.2:40000"), Server: ap("10.0.2.2:21"),
			Orig:  conntrack.Tuple{Src: ap("198.51.100.2:40000"), Dst: ap("203.0.113.1:21")},
			Reply: conntrack.Tuple{Src: ap("10.0.2.2:21"), Dst: ap("198.51.100.2:40000")}, NATKnown: true,
			State: []string{"greeted", "resized"}, TLS: "block", Rewrites: 2, IdleSeconds: 1.25,
			Pinholes: []gateway.PinholeStatus{{ID: 7, Src: netip.MustParseAddr("198.51.100.2"), Dst: ap("203.0.113.1:50000"),
				Mapping:          &conntrack.Mapping{Src: netip.MustParseAddr("198.51.100.2"), Dst: ap("203.0.113.1:50000"), ToDst: ap("10.0.2.2:50000")},
				RemainingSeconds: 28.4}},
		}},
		Totals: gateway.StatusTotals{Sessions: 1, Pinholes: 1, SessionsStarted: 4, Rewrites: 2},
		Queues: []gateway.QueueStatus{{Queue: 0, Received: 20, Verdicts: 20, Sessions: 1, Pinholes: 1}},
	}
	var b bytes.Buffer
	printStatus(&b, r)
	out := b.String()
	for _, want := range []string{
		"table inet ftpalg, 1 session, 1 pinhole, 0 passive ranges at 2026-01-02 03:04:05 UTC",
		"198.51.100.2:40000 -> 203.0.113.1:21", "10.0.2.2:21 -> 198.51.100.2:40000", "greeted,resized", "block",
		"dnat 203.0.113.1:50000 -> 10.0.2.2:50000", "28.4s", "totals: sessions 4 started",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	sock := filepath.Join(dir, "none.sock")
	if err := os.WriteFile(cfg, []byte("status: {socket: "+sock+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"status", "extra"}, 2, "unexpected arguments"},
		{[]string{"status", "-config", filepath.Join(dir, "missing.yaml")}, 1, "no such file"},
		{[]string{"status", "-config", cfg}, 1, sock},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", tc.args, code, errb.String(), tc.code, tc.err)
		}
	}
}

func TestSecs(t *testing.T) {
	for s, want := range map[float64]string{0: "0.0s", 28.44: "28.4s", 192.5: "3m12s", 3840: "1h4m"} {
		if got := secs(s); got != want {
			t.Errorf("secs(%v) = %q, want %q", s, got, want)
		}
	}
}
