package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Prometheus endpoint (metrics.listen), scraped from inside the
// gateway namespace, where ftpalg listens.

const metricsAddr = "127.0.0.1:9127"

// scrapeMetrics fetches /metrics from inside ns and returns every sample
// by its series as the exposition writes it: `name{label="v",...}` (or
// just name) to its value.
func scrapeMetrics(ns *Netns, addr string) (map[string]float64, string, error) {
	conn, err := ns.Dial(netip.Addr{}, netip.MustParseAddrPort(addr), 2*time.Second)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: %s\r\nAccept: text/plain\r\n\r\n", addr)
	raw, err := io.ReadAll(conn)
	if err != nil {
		return nil, "", err
	}
	head, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.0 200") && !strings.HasPrefix(head, "HTTP/1.1 200") {
		return nil, "", fmt.Errorf("GET /metrics: %.200q", raw)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, "", fmt.Errorf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, "", fmt.Errorf("bad value in %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m, body, nil
}

// ftpalgLines returns the ftpalg_ samples of an exposition, sorted.
func ftpalgLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "ftpalg_") && !strings.Contains(l, "_bucket{") {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// metricsLab is the DNAT lab with vsftpd behind the gateway and ftpalg
// serving metrics at metricsAddr in the gateway namespace.
func metricsLab(t *testing.T) (*gwLab, *Daemon) {
	t.Helper()
	g := labDNAT(t, adminFtpalg)
	startVsftpd(t, g.Server, serverPriv, serverOpts{})
	cfg := gatewayConfig()
	cfg.MetricsListen = metricsAddr
	d := startDaemon(t, g.GW, cfg)
	if _, ok := d.WaitFor(0, msg("metrics", "listen", metricsAddr)); !ok {
		t.Fatalf("ftpalg did not log where the metrics are served")
	}
	return g, d
}

// TestMetrics runs a passive download through the DNAT gateway with
// metrics on and scrapes /metrics from inside the gateway namespace
// before, during and after it: the session, the rewrite of the 227, the
// pinhole opened and then closed by its data connection, the packets and
// their decision times, and no session left after QUIT. The endpoint is
// reachable only in the gateway namespace, and a clean stop ends it.
func TestMetrics(t *testing.T) {
	g, d := metricsLab(t)

	var lastBody string
	scrape := func() map[string]float64 {
		t.Helper()
		m, body, err := scrapeMetrics(g.GW, metricsAddr)
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		lastBody = body
		return m
	}
	// await scrapes until every series has its value (the workers
	// publish their counters every 50 ms).
	await := func(when string, want map[string]float64) map[string]float64 {
		t.Helper()
		var m map[string]float64
		ok := eventually(3*time.Second, func() bool {
			m = scrape()
			for k, v := range want {
				if got, found := m[k]; !found || got != v {
					return false
				}
			}
			return true
		})
		if !ok {
			for k, v := range want {
				if got, found := m[k]; !found || got != v {
					t.Errorf("%s: %s = %v (present %v), want %v", when, k, got, found, v)
				}
			}
			t.Fatalf("%s: the metrics:\n%s", when, ftpalgLines(lastBody))
		}
		return m
	}

	m := await("at start", map[string]float64{
		`ftpalg_sessions_active`:        0,
		`ftpalg_sessions_started_total`: 0,
		`ftpalg_pinholes_active`:        0,
		`ftpalg_table_restores_total`:   0,
	})
	if _, ok := m[`go_goroutines`]; !ok {
		t.Errorf("no go_goroutines in the exposition")
	}

	// Only the gateway namespace has the endpoint.
	if c, err := g.Client.Dial(netip.Addr{}, netip.MustParseAddrPort(metricsAddr), time.Second); err == nil {
		c.Close()
		t.Errorf("%s answers in the client namespace too", metricsAddr)
	}

	c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	await("logged in", map[string]float64{
		`ftpalg_sessions_started_total`: 1,
		`ftpalg_sessions_active`:        1,
	})
	setup, err := c.Prepare(PASV)
	if err != nil {
		t.Fatal(err)
	}
	m = await("after PASV", map[string]float64{
		`ftpalg_pinholes_opened_total`: 1,
		`ftpalg_pinholes_active`:       1,
		`ftpalg_rewrites_total`:        1,
		`ftpalg_sessions_active`:       1,
	})
	if m[`ftpalg_nft_batches_total`] < 1 || m[`ftpalg_nft_batch_seconds_count`] < 1 {
		t.Errorf("after PASV: nft batches %v, timed %v; want the pinhole's batch", m[`ftpalg_nft_batches_total`], m[`ftpalg_nft_batch_seconds_count`])
	}

	small, _ := testFiles()
	var got []byte
	var during map[string]float64
	err = c.Transfer(setup, "RETR "+smallPath, func(conn net.Conn) error {
		b, err := io.ReadAll(conn)
		got = b
		// The data connection is in: its conntrack event closed the
		// pinhole as used while the session goes on.
		during = await("during the transfer", map[string]float64{
			`ftpalg_pinholes_closed_total{reason="used"}`: 1,
			`ftpalg_pinholes_active`:                      0,
			`ftpalg_sessions_active`:                      1,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(small) {
		t.Fatalf("download: %d bytes, want %d", len(got), len(small))
	}
	t.Logf("scraped during the transfer:\n%s", ftpalgLines(lastBody))
	if during[`ftpalg_conntrack_events_total`] < 1 {
		t.Errorf("during the transfer: no conntrack events counted")
	}

	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	m = await("after QUIT", map[string]float64{
		`ftpalg_sessions_active`:                 0,
		`ftpalg_sessions_started_total`:          1,
		`ftpalg_pinholes_active`:                 0,
		`ftpalg_held_segments`:                   0,
		`ftpalg_nft_errors_total`:                0,
		`ftpalg_queue_overruns_total{queue="0"}`: 0,
		`ftpalg_queue_lost_total{queue="0"}`:     0,
	})
	t.Logf("scraped after QUIT:\n%s", ftpalgLines(lastBody))

	var ended, packets float64
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "ftpalg_sessions_ended_total{"):
			ended += v
		case strings.HasPrefix(k, "ftpalg_packets_total{"):
			packets += v
		case strings.HasPrefix(k, "ftpalg_refusals_total{"):
			t.Errorf("a refusal in an ordinary session: %s %v", k, v)
		}
	}
	if ended != 1 {
		t.Errorf("sessions ended %v, want 1", ended)
	}
	accepted, modified := m[`ftpalg_packets_total{queue="0",verdict="accept"}`], m[`ftpalg_packets_total{queue="0",verdict="accept-modified"}`]
	if accepted < 10 || modified < 1 {
		t.Errorf("packets: %v accepted, %v modified; want the session's control packets, and the rewritten 227 modified", accepted, modified)
	}
	if n := m[`ftpalg_decision_seconds_count`]; n < packets || n == 0 {
		t.Errorf("decision_seconds_count %v, want a decision for each of the %v packets", n, packets)
	}
	if s := m[`ftpalg_decision_seconds_sum`]; s <= 0 || s > m[`ftpalg_decision_seconds_count`] {
		t.Errorf("decision_seconds_sum %v for %v decisions", s, m[`ftpalg_decision_seconds_count`])
	}
	if m[`ftpalg_decision_seconds_bucket{le="+Inf"}`] != m[`ftpalg_decision_seconds_count`] {
		t.Errorf("decision_seconds: +Inf bucket %v, count %v", m[`ftpalg_decision_seconds_bucket{le="+Inf"}`], m[`ftpalg_decision_seconds_count`])
	}
	for k := range m {
		for _, a := range []string{"198.51.100.", "203.0.113.", "10.0.0."} {
			if strings.Contains(k, a) {
				t.Errorf("an address in a series: %s", k)
			}
		}
	}
	noDaemonErrors(t, d)

	d.StopClean(t)
	if c, err := g.GW.Dial(netip.Addr{}, netip.MustParseAddrPort(metricsAddr), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still answers after ftpalg stopped", metricsAddr)
	}
}

// TestBatchesPerTransfer counts the nftables batches of transfers
// through the DNAT gateway (issue 12: fewer netlink round trips per
// transfer), passive (the 227 rewritten, the data connection DNATed by its
// mapping) and active (PORT). One session per mode runs batchXfers downloads, each
// with its own announcement; the batches counted from login to QUIT are
// logged per transfer. Each transfer opens its pinhole (and mapping) in
// one batch. Its data connection uses them up in the kernel (pinhole
// rule, NAT chains), so the close it causes (reason "used") sends
// nothing: only a transfer whose final reply was seen before its data
// connection's conntrack event closes its pinhole as transfer-done, with
// a real destroy. So the batches are exactly one per transfer plus one
// per such close.
func TestBatchesPerTransfer(t *testing.T) {
	for _, mode := range []Mode{PASV, PORT} {
		t.Run(string(mode), func(t *testing.T) { batchesPerTransfer(t, mode) })
	}
}

func batchesPerTransfer(t *testing.T, mode Mode) {
	const batchXfers = 20
	g, d := metricsLab(t)
	var body string
	// settled scrapes until the workers have published what the test
	// waits for (they publish every 50 ms).
	settled := func(when string, ok func(map[string]float64) bool) map[string]float64 {
		t.Helper()
		var m map[string]float64
		if !eventually(3*time.Second, func() bool {
			var err error
			m, body, err = scrapeMetrics(g.GW, metricsAddr)
			return err == nil && ok(m)
		}) {
			t.Fatalf("%s: the metrics:\n%s", when, ftpalgLines(body))
		}
		return m
	}

	c := dialGo(t, g.Client, g.ClientAddr, netip.AddrPortFrom(g.Dial, 21))
	before := settled("logged in", func(m map[string]float64) bool { return m[`ftpalg_sessions_active`] == 1 })
	small, _ := testFiles()
	for i := range batchXfers {
		setup, err := c.Prepare(mode)
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		var got []byte
		if err := c.Transfer(setup, "RETR "+smallPath, func(conn net.Conn) error {
			var err error
			got, err = io.ReadAll(conn)
			return err
		}); err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		if !bytes.Equal(got, small) {
			t.Fatalf("transfer %d: %d bytes, want %d", i, len(got), len(small))
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	after := settled("after QUIT", func(m map[string]float64) bool {
		closed := m[`ftpalg_pinholes_closed_total{reason="used"}`] + m[`ftpalg_pinholes_closed_total{reason="transfer-done"}`]
		return m[`ftpalg_sessions_active`] == 0 && closed == batchXfers
	})
	batches := after[`ftpalg_nft_batches_total`] - before[`ftpalg_nft_batches_total`]
	used := after[`ftpalg_pinholes_closed_total{reason="used"}`]
	done := after[`ftpalg_pinholes_closed_total{reason="transfer-done"}`]
	t.Logf("%d %s transfers: %v nftables batches (%.2f per transfer); pinholes closed: %v used, %v transfer-done; nft errors %v",
		batchXfers, mode, batches, batches/batchXfers, used, done, after[`ftpalg_nft_errors_total`])
	if after[`ftpalg_pinholes_opened_total`] != batchXfers || after[`ftpalg_nft_errors_total`] != 0 {
		t.Errorf("pinholes opened %v, nft errors %v; want %d and 0", after[`ftpalg_pinholes_opened_total`], after[`ftpalg_nft_errors_total`], batchXfers)
	}
	if want := batchXfers + done; batches != want {
		t.Errorf("%v batches, want %v: one per transfer, none for the %v pinholes the kernel consumed, one per transfer-done close (%v)", batches, want, used, done)
	}
	expectNothingLeft(t, g.GW, d.Cfg.Table, 3*time.Second, "after QUIT")
	noDaemonErrors(t, d)
}
