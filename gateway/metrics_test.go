package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/internal/promtext"
	"github.com/ftpalg/ftpalg/internal/promtext/promtexttest"
	"github.com/ftpalg/ftpalg/nfq"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// exposition is the engine's own metrics as a scrape writes them.
func exposition(d *Engine) []byte {
	var w promtext.Writer
	d.writeMetrics(&w)
	return w.Bytes()
}

// parseExposition reads an exposition with Prometheus' own parser.
func parseExposition(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	return promtexttest.Parse(t, b)
}

// scrape writes the engine's metrics, reads them back with Prometheus'
// parser and returns them by series: `name{k="v",...}` for counters and
// gauges, name_count, name_sum and name_bucket{le="..."} for histograms.
func scrape(t *testing.T, d *Engine) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, mf := range parseExposition(t, exposition(d)) {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := func(name string, extra ...string) string {
				ls := append(slices.Clone(labels), extra...)
				if len(ls) == 0 {
					return name
				}
				return name + "{" + strings.Join(ls, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key(mf.GetName())] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(mf.GetName())] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key(mf.GetName()+"_count")] = float64(h.GetSampleCount())
				out[key(mf.GetName()+"_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					if le == "+Inf" {
						continue // the same as _count
					}
					out[key(mf.GetName()+"_bucket", `le="`+le+`"`)] = float64(b.GetCumulativeCount())
				}
			default:
				t.Fatalf("%s: unexpected type %v", mf.GetName(), mf.GetType())
			}
		}
	}
	return out
}

// session plays one control connection through a worker, keeping the
// sequence numbers.
type session struct {
	t      *testing.T
	w      *worker
	id     uint32
	cs, ss uint32 // next client and server sequence numbers
}

func (s *session) send(fromClient bool, payload string) {
	s.t.Helper()
	s.id++
	if fromClient {
		s.w.packet(nfq.Packet{ID: s.id, Data: tcp(s.t, true, s.cs, s.ss, false, payload)})
		s.cs += uint32(len(payload))
	} else {
		s.w.packet(nfq.Packet{ID: s.id, Data: tcp(s.t, false, s.ss, s.cs, false, payload)})
		s.ss += uint32(len(payload))
	}
}

// fin sends a FIN.
func (s *session) fin(fromClient bool) {
	s.t.Helper()
	s.id++
	b := tcp(s.t, fromClient, s.cs, s.ss, false, "")
	if !fromClient {
		b = tcp(s.t, false, s.ss, s.cs, false, "")
	}
	b[20+13] |= 0x01 // FIN
	setTCPChecksum(b)
	s.w.packet(nfq.Packet{ID: s.id, Data: b})
	if fromClient {
		s.cs++
	} else {
		s.ss++
	}
}

// setTCPChecksum recomputes the TCP checksum of an IPv4 packet without
// options.
func setTCPChecksum(b []byte) {
	tcpb := b[20:]
	tcpb[16], tcpb[17] = 0, 0
	var sum uint32
	add := func(p []byte) {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(p[i])<<8 | uint32(p[i+1])
		}
		if len(p)%2 == 1 {
			sum += uint32(p[len(p)-1]) << 8
		}
	}
	add(b[12:20]) // source and destination address
	sum += 6 + uint32(len(tcpb))
	add(tcpb)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	tcpb[16], tcpb[17] = byte(c>>8), byte(c)
}

func startSession(t *testing.T, w *worker) *session {
	t.Helper()
	s := &session{t: t, w: w, cs: 1000, ss: 5000}
	s.id++
	w.packet(nfq.Packet{ID: s.id, Data: tcp(t, true, s.cs, 0, true, "")})
	s.cs++
	s.id++
	w.packet(nfq.Packet{ID: s.id, Data: tcp(t, false, s.ss, s.cs, true, "")})
	s.ss++
	s.send(true, "")
	s.send(false, "220 ready\r\n")
	return s
}

// want compares series with what they must be.
func want(t *testing.T, got map[string]float64, exp map[string]float64) {
	t.Helper()
	for k, v := range exp {
		g, ok := got[k]
		if !ok {
			t.Errorf("no series %s", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}

// TestMetricsSession plays a session through a worker behind DNAT (a
// passive transfer with a 227 split over two segments, its pinhole used,
// a refused PORT, QUIT) and checks what the collector reports after each
// tick, and that nothing moves between ticks.
func TestMetricsSession(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	d := w.d
	d.cache.Put(ctnetlink.Info{Proto: 6,
		Orig:  conntrack.Tuple{Src: client, Dst: public},
		Reply: conntrack.Tuple{Src: server, Dst: client}})

	m := scrape(t, d)
	want(t, m, map[string]float64{
		`ftpalg_packets_total{queue="0",verdict="accept"}`: 0,
		`ftpalg_sessions_active`:                           0,
		`ftpalg_decision_seconds_count`:                    0,
		`ftpalg_nft_batches_total`:                         0,
	})

	s := startSession(t, w)
	s.send(true, "PASV\r\n")
	// The 227 arrives in two segments: the first is held until the
	// line is complete.
	s.send(false, "227 Entering Pas")
	w.tick(time.Now())
	m = scrape(t, d)
	want(t, m, map[string]float64{
		`ftpalg_packets_total{queue="0",verdict="accept"}`: 5,
		`ftpalg_held_segments`:                             1,
		`ftpalg_sessions_started_total`:                    1,
		`ftpalg_sessions_active`:                           1,
		`ftpalg_decision_seconds_count`:                    6,
	})
	s.send(false, "sive Mode (10,0,0,2,117,48).\r\n")
	if got := rec.take(); !strings.Contains(got, "add 1 ") {
		t.Fatalf("calls %q: want the pinhole", got)
	}
	// Until the next tick, a scrape shows the last one.
	if m2 := scrape(t, d); m2[`ftpalg_held_segments`] != 1 || m2[`ftpalg_pinholes_opened_total`] != 0 {
		t.Fatalf("counters moved between ticks: held %v, opened %v", m2[`ftpalg_held_segments`], m2[`ftpalg_pinholes_opened_total`])
	}
	w.tick(time.Now())
	m = scrape(t, d)
	want(t, m, map[string]float64{
		`ftpalg_held_segments`:           0,
		`ftpalg_rewrites_total`:          1,
		`ftpalg_pinholes_opened_total`:   1,
		`ftpalg_pinholes_active`:         1,
		`ftpalg_nft_batches_total`:       1,
		`ftpalg_nft_errors_total`:        0,
		`ftpalg_nft_batch_seconds_count`: 1,
		`ftpalg_decision_seconds_count`:  7,
		`ftpalg_sessions_resized_total`:  0,
	})
	// The held segment and the rest of the line both go out rewritten
	// (or one rewritten, one as it was): 7 packets, each once, by its
	// final verdict.
	if n := m[`ftpalg_packets_total{queue="0",verdict="accept"}`] + m[`ftpalg_packets_total{queue="0",verdict="accept-modified"}`]; n != 7 {
		t.Errorf("packets accepted %v, want 7", n)
	}

	// The data connection uses the pinhole.
	pin := rec.pins[1]
	d.ctEvent(ctnetlink.Event{Type: ctnetlink.EventNew, Info: ctnetlink.Info{Proto: 6, Mark: 0x2000,
		Orig:  conntrack.Tuple{Src: netip.MustParseAddrPort("198.51.100.10:50000"), Dst: pin.Mapping.Dst},
		Reply: conntrack.Tuple{Src: pin.Mapping.ToDst, Dst: netip.MustParseAddrPort("198.51.100.10:50000")}}})
	for _, msg := range w.ctl.take(nil) {
		w.control(msg, time.Now())
	}
	s.send(true, "RETR f\r\n")
	s.send(false, "150 go\r\n")
	s.send(false, "226 done\r\n")
	// A bounce: the PORT names another host.
	s.send(true, "PORT 192,0,2,9,4,1\r\n")
	s.send(false, "501 no\r\n")
	w.tick(time.Now())
	m = scrape(t, d)
	want(t, m, map[string]float64{
		`ftpalg_pinholes_closed_total{reason="used"}`: 1,
		`ftpalg_pinholes_active`:                      0,
		`ftpalg_refusals_total{reason="bounce"}`:      1,
		`ftpalg_nft_batches_total`:                    1, // the used pinhole costs no batch
		`ftpalg_sessions_active`:                      1,
	})

	s.send(true, "QUIT\r\n")
	s.send(false, "221 bye\r\n")
	w.tick(time.Now())
	want(t, scrape(t, d), map[string]float64{`ftpalg_sessions_active`: 1})
	// The server closes: the session ends.
	s.fin(false)
	w.tick(time.Now())
	m = scrape(t, d)
	want(t, m, map[string]float64{
		`ftpalg_sessions_started_total`:                     1,
		`ftpalg_sessions_ended_total{reason="session-end"}`: 1,
		`ftpalg_sessions_active`:                            0,
		`ftpalg_decision_seconds_count`:                     float64(s.id),
		`ftpalg_decision_seconds_bucket{le="0.25"}`:         float64(s.id),
	})
	var sent float64
	for k, v := range m {
		if strings.HasPrefix(k, "ftpalg_packets_total{") {
			sent += v
		}
	}
	if sent != float64(s.id) {
		t.Errorf("packets_total adds up to %v, want the %d packets sent", sent, s.id)
	}
	for k := range m {
		if strings.Contains(k, "198.51.100") || strings.Contains(k, "10.0.0.2") || strings.Contains(k, "203.0.113") {
			t.Errorf("an address in a series: %s", k)
		}
	}

	// A second session on the same flow, whose batch fails, and a table
	// restore.
	rec.applyErr = errors.New("netlink: no buffer space")
	s2 := startSession(t, w)
	s2.send(true, "PASV\r\n")
	s2.send(false, "227 Entering Passive Mode (10,0,0,2,117,49).\r\n")
	rec.applyErr = nil
	rec.missing = true
	d.watchdog()
	w.tick(time.Now())
	want(t, scrape(t, d), map[string]float64{
		`ftpalg_sessions_started_total`:                     2,
		`ftpalg_sessions_ended_total{reason="session-end"}`: 1,
		`ftpalg_sessions_active`:                            1,
		`ftpalg_nft_batches_total`:                          3, // the first pinhole, the failed one, the rebuild
		`ftpalg_nft_errors_total`:                           1,
		`ftpalg_nft_batch_seconds_count`:                    3,
		`ftpalg_table_restores_total`:                       1,
	})
}

// TestMetricsResized: a rewrite that changes the line's length counts
// the session as resized.
func TestMetricsResized(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	w.d.cache.Put(ctnetlink.Info{Proto: 6,
		Orig:  conntrack.Tuple{Src: client, Dst: public},
		Reply: conntrack.Tuple{Src: server, Dst: client}})
	s := startSession(t, w)
	s.send(true, "PASV\r\n")
	s.send(false, "227 (10,0,0,2,4,1).\r\n")
	w.tick(time.Now())
	want(t, scrape(t, w.d), map[string]float64{
		`ftpalg_sessions_resized_total`:                             1,
		`ftpalg_resized_mark_errors_total`:                          0,
		`ftpalg_packets_total{queue="0",verdict="accept-modified"}`: 1,
	})
}

// TestMetricsNames: every metric passes promlint (base units, _total on
// counters, ...) and starts with ftpalg_; the collector describes exactly
// what it collects.
func TestMetricsNames(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	s := startSession(t, w)
	s.send(true, "PORT 192,0,2,9,4,1\r\n")
	w.tick(time.Now())
	text := exposition(w.d)
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs := parseExposition(t, text)
	// One series per family, but three for packets_total (one per final
	// verdict) and none for the five by reason, but refusals{bounce}.
	series := 0
	for name, mf := range mfs {
		series += len(mf.GetMetric())
		if !strings.HasPrefix(name, "ftpalg_") {
			t.Errorf("%s: not prefixed ftpalg_", name)
		}
	}
	if want := len(allFamilies) + 2 - 5 + 1; series != want {
		t.Errorf("%d series, want %d:\n%s", series, want, text)
	}
	if len(mfs) != len(allFamilies)-4 {
		t.Errorf("%d families, want %d (all but the four by reason without series)", len(mfs), len(allFamilies)-4)
	}
	if got := mfs[famSessActive.Name].GetMetric()[0].GetGauge().GetValue(); got != 1 {
		t.Errorf("ftpalg_sessions_active = %v, want 1", got)
	}
}

// allFamilies are ftpalg's own metric families.
var allFamilies = []*promtext.Family{
	famPackets, famQueueOverruns, famQueueLost, famDecision, famAnnounce,
	famRewrites, famRefusals, famResets, famPinOpened, famPinClosed, famPinActive,
	famRangeOpened, famRangeClosed, famRangeActive, famSessStarted, famSessEnded,
	famSessActive, famSessResized, famMarkErrors, famHeld, famCtEvents, famCtIgnored, famCtOverruns,
	famNftBatches, famNftErrors, famNftBatchSeconds, famTableRestores,
}

// TestWorkerSteadyPacketDoesNotAllocate keeps the packet path, metrics
// included, free of allocations.
func TestWorkerSteadyPacketDoesNotAllocate(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	w.q = nopQueue{}
	w.d.cache.Put(ctnetlink.Info{Proto: 6, Orig: conntrack.Tuple{Src: client, Dst: server}, Reply: conntrack.Tuple{Src: server, Dst: client}})
	s := startSession(t, w)
	ack := tcp(t, true, s.cs, s.ss, false, "")
	pkt := make([]byte, len(ack))
	if n := testing.AllocsPerRun(1000, func() {
		copy(pkt, ack)
		w.packet(nfq.Packet{ID: 1, Data: pkt})
	}); n != 0 {
		t.Fatalf("%v allocations per steady packet, want 0", n)
	}
}

// pipeListener is an in-memory net.Listener: the server test needs no
// socket.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestMetricsServer: /metrics serves the exposition text with ftpalg's
// metrics and the Go client's standard ones; stop ends the server.
func TestMetricsServer(t *testing.T) {
	var logs bytes.Buffer
	w, _ := newTestWorker(t, &logs)
	startSession(t, w)
	w.tick(time.Now())
	ln := newPipeListener()
	ms := w.d.newMetricsServer(ln)
	ms.serve()
	cl := &http.Client{Transport: &http.Transport{DialContext: ln.dial}, Timeout: 10 * time.Second}
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://metrics"+path, nil)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("GET", "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	// The whole exposition, process and Go metrics included, reads with
	// Prometheus' parser and passes its linter.
	mfs := parseExposition(t, []byte(body))
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
		"process_open_fds", "process_max_fds", "process_start_time_seconds", "go_info", "go_goroutines", "go_threads",
		"go_gc_duration_seconds", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes", "go_memstats_alloc_bytes_total",
		"go_memstats_next_gc_bytes", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"} {
		mf := mfs[name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Errorf("%s: %v, want one series", name, mf)
		}
	}
	if q := mfs["go_gc_duration_seconds"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 5 || q[0].GetQuantile() != 0 || q[4].GetQuantile() != 1 || q[4].GetValue() < q[0].GetValue() {
		t.Errorf("go_gc_duration_seconds quantiles: %v", q)
	}
	if rss := mfs["process_resident_memory_bytes"].GetMetric()[0].GetGauge().GetValue(); rss < 1<<20 || rss > 1<<34 {
		t.Errorf("process_resident_memory_bytes = %v", rss)
	}
	if st := mfs["process_start_time_seconds"].GetMetric()[0].GetGauge().GetValue(); math.Abs(st-float64(time.Now().Unix())) > 3600 {
		t.Errorf("process_start_time_seconds = %v, now is %d", st, time.Now().Unix())
	}
	// Plain, with its length, whatever the scraper accepts: a gzip
	// writer would cost about 800 KB a scrape.
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequest("GET", "http://metrics/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", enc, ce)
		}
		if ct := resp.Header.Get("Content-Type"); ct != promtext.ContentType {
			t.Errorf("Accept-Encoding %q: Content-Type %q", enc, ct)
		}
		if resp.ContentLength != int64(len(raw)) || !strings.Contains(string(raw), "# TYPE ftpalg_packets_total counter\n") {
			t.Errorf("Accept-Encoding %q: length %d of %d bytes, body %.100q", enc, resp.ContentLength, len(raw), raw)
		}
	}
	if code, _ := get("GET", "/"); code != 404 {
		t.Errorf("GET /: %d, want 404", code)
	}
	if code, _ := get("POST", "/metrics"); code != 405 {
		t.Errorf("POST /metrics: %d, want 405", code)
	}
	cl.CloseIdleConnections()
	done := make(chan struct{})
	go func() { ms.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return")
	}
	if _, err := ln.dial(context.Background(), "", ""); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after stop, dial: %v, want the listener closed", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
	var nilServer *metricsServer // metrics off
	nilServer.serve()
	nilServer.stop()
}

func TestReadProcStat(t *testing.T) {
	// A command name with a space and a ')' of its own.
	line := []byte("4242 (ftp) alg) S 1 4242 4242 0 -1 4194560 1000 0 0 0 50 25 0 0 20 0 7 0 123456 1234567890 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	st, ok := readProcStat(line)
	if !ok || st != (procStat{threads: 7, startTicks: 123456, vsize: 1234567890, rssPages: 3000}) {
		t.Errorf("readProcStat = %+v, %v", st, ok)
	}
	for _, bad := range []string{"", "4242 ftp S 1", "4242 (ftp) S 1 2 3"} {
		if _, ok := readProcStat([]byte(bad)); ok {
			t.Errorf("readProcStat(%q) accepted", bad)
		}
	}
	if got := readBootTime([]byte("cpu  1 2 3\nintr 5\nbtime 1765000000\nprocesses 9\n")); got != 1765000000 {
		t.Errorf("readBootTime = %d", got)
	}
	if got := readBootTime([]byte("cpu 1\n")); got != 0 {
		t.Errorf("readBootTime without btime = %d", got)
	}
}

// More than maxScrapes scrapes at once: the one over gets 503 at once.
func TestMetricsHandlerInFlight(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	h := w.d.metricsHandler()
	for range maxScrapes {
		h.inflight <- struct{}{} // scrapes being served
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("scrape %d: %d, want 503", maxScrapes+1, rec.Code)
	}
	<-h.inflight // one ends
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "ftpalg_sessions_active 0\n") {
		t.Errorf("after one ended: %d\n%.200s", rec.Code, rec.Body.String())
	}
	if len(h.inflight) != maxScrapes-1 {
		t.Errorf("%d tokens held after the scrape, want %d", len(h.inflight), maxScrapes-1)
	}
}
