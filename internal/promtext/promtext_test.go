package promtext

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/ftpalg/ftpalg/internal/promtext/promtexttest"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

func parse(t testing.TB, b []byte) map[string]*dto.MetricFamily { return promtexttest.Parse(t, b) }

var (
	fPackets = &Family{"demo_packets_total", "Packets by verdict.", Counter}
	fActive  = &Family{"demo_sessions_active", "Sessions now.", Gauge}
	fLatency = &Family{"demo_decision_seconds", "Time to decide.", Histogram}
	fNone    = &Family{"demo_refusals_total", "Refusals by reason.", Counter}
)

func TestWriter(t *testing.T) {
	var w Writer
	w.Begin(fPackets)
	w.Sample(fPackets.Name, 4, "queue", "0", "verdict", "accept")
	w.Sample(fPackets.Name, 0, "queue", "0", "verdict", "drop")
	w.Begin(fNone) // no series: no HELP or TYPE either
	w.Begin(fActive)
	w.Sample(fActive.Name, 1)
	w.Begin(fLatency)
	w.Histogram(fLatency.Name, []float64{1e-6, 0.0025, 1}, []uint64{3, 0, 1, 2}, 2.5)
	want := `# HELP demo_packets_total Packets by verdict.
# TYPE demo_packets_total counter
demo_packets_total{queue="0",verdict="accept"} 4
demo_packets_total{queue="0",verdict="drop"} 0
# HELP demo_sessions_active Sessions now.
# TYPE demo_sessions_active gauge
demo_sessions_active 1
# HELP demo_decision_seconds Time to decide.
# TYPE demo_decision_seconds histogram
demo_decision_seconds_bucket{le="1e-06"} 3
demo_decision_seconds_bucket{le="0.0025"} 3
demo_decision_seconds_bucket{le="1"} 4
demo_decision_seconds_bucket{le="+Inf"} 6
demo_decision_seconds_sum 2.5
demo_decision_seconds_count 6
`
	if got := string(w.Bytes()); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	mfs := parse(t, w.Bytes())
	if len(mfs) != 3 {
		t.Errorf("%d families, want 3", len(mfs))
	}
	h := mfs[fLatency.Name].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 6 || h.GetSampleSum() != 2.5 || len(h.GetBucket()) != 4 || h.GetBucket()[1].GetCumulativeCount() != 3 || !math.IsInf(h.GetBucket()[3].GetUpperBound(), 1) {
		t.Errorf("parsed histogram: %v", h)
	}
	problems, err := promlint.New(bytes.NewReader(w.Bytes())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	w.Reset()
	if len(w.Bytes()) != 0 {
		t.Fatalf("after Reset: %q", w.Bytes())
	}
	w.Begin(fPackets) // a new exposition may begin the family again
	w.Sample(fPackets.Name, 1)
	if got := string(w.Bytes()); !strings.HasPrefix(got, "# HELP demo_packets_total") {
		t.Errorf("after Reset: %q", got)
	}
}

func TestWriterEscapes(t *testing.T) {
	var w Writer
	f := &Family{"demo_info", "Help with a \\ backslash,\na newline and \"quotes\".", Gauge}
	w.Begin(f)
	val := "a\\b\"c\nd"
	w.Sample(f.Name, 1, "v", val)
	wantHelp := `# HELP demo_info Help with a \\ backslash,\na newline and "quotes".`
	if !strings.Contains(string(w.Bytes()), wantHelp+"\n") {
		t.Errorf("help line not %q:\n%s", wantHelp, w.Bytes())
	}
	if !strings.Contains(string(w.Bytes()), `demo_info{v="a\\b\"c\nd"} 1`+"\n") {
		t.Errorf("label not escaped:\n%s", w.Bytes())
	}
	mf := parse(t, w.Bytes())[f.Name]
	if mf.GetHelp() != f.Help {
		t.Errorf("help parses as %q, want %q", mf.GetHelp(), f.Help)
	}
	if got := mf.GetMetric()[0].GetLabel()[0].GetValue(); got != val {
		t.Errorf("label parses as %q, want %q", got, val)
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {12345, "12345"}, {1e6, "1e+06"}, {0.5, "0.5"}, {1e-6, "1e-06"},
		{2.5e-4, "0.00025"}, {18446744073709551615, "1.8446744073709552e+19"},
		{math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	} {
		if got := string(AppendFloat(nil, tc.v)); got != tc.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestWriterMisuse(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("family begun twice", func() {
		var w Writer
		w.Begin(fActive)
		w.Begin(fActive)
	})
	mustPanic("histogram counts", func() {
		var w Writer
		w.Begin(fLatency)
		w.Histogram(fLatency.Name, []float64{1}, []uint64{1}, 0)
	})
}

// FuzzWriter: any help text, label value and value make an exposition
// Prometheus' parser reads back to the same help, label and value.
func FuzzWriter(f *testing.F) {
	f.Add("help", "value", 1.5, uint64(3))
	f.Add("a\\b\nc\"d", "x\ny\"z\\", -0.0, uint64(0))
	f.Add("", "", math.Inf(1), uint64(1<<53))
	f.Fuzz(func(t *testing.T, help, label string, v float64, n uint64) {
		if !utf8Valid(help) || !utf8Valid(label) {
			return // the format is UTF-8; the callers' strings are
		}
		var w Writer
		g := &Family{"fuzz_gauge", help, Gauge}
		h := &Family{"fuzz_seconds", "h", Histogram}
		w.Begin(g)
		w.Sample(g.Name, v, "l", label)
		w.Begin(h)
		w.Histogram(h.Name, []float64{0.001, 1}, []uint64{n, 1, 2}, v, "l", label)
		mfs := parse(t, w.Bytes())
		gm := mfs[g.Name]
		if gm == nil || len(gm.GetMetric()) != 1 {
			t.Fatalf("gauge family: %v\n%s", gm, w.Bytes())
		}
		// The parser skips the blanks before a help text.
		if gm.GetHelp() != strings.TrimLeft(help, " \t") {
			t.Fatalf("help %q read back as %q", help, gm.GetHelp())
		}
		m := gm.GetMetric()[0]
		if got := m.GetLabel()[0].GetValue(); got != label {
			t.Fatalf("label %q read back as %q", label, got)
		}
		if got := m.GetGauge().GetValue(); got != v && !(math.IsNaN(v) && math.IsNaN(got)) {
			t.Fatalf("value %v read back as %v", v, got)
		}
		hm := mfs[h.Name].GetMetric()[0].GetHistogram()
		// Values are float64 in the format: counts are exact up to 2^53.
		if n < 1<<52 && hm.GetSampleCount() != n+3 {
			t.Fatalf("histogram count %d, want %d", hm.GetSampleCount(), n+3)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
