package promtext

import (
	"math"
	"strconv"
	"strings"
)

// ContentType is the HTTP Content-Type of the format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a metric family's type.
type Type string

const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
	Summary   Type = "summary" // written by the caller: NAME{quantile="q"}, NAME_sum, NAME_count
)

// Family describes one metric family: its full name, help text and
// type. Names and label names must be valid Prometheus names (checked
// by the tests of the families, not here: they are constants).
type Family struct {
	Name string
	Help string
	Type Type
}

// Writer appends an exposition. A family's HELP and TYPE lines are
// written with its first sample, so that a family with no series (a
// counter by reason none of which occurred) is left out, as the
// Prometheus client does.
type Writer struct {
	b       []byte
	pending *Family // HELP and TYPE not written yet
	written map[string]bool
}

// Bytes is the exposition so far.
func (w *Writer) Bytes() []byte { return w.b }

// Reset empties the writer for reuse, keeping its buffer.
func (w *Writer) Reset() {
	w.b = w.b[:0]
	w.pending = nil
	clear(w.written)
}

// Begin starts family f: the samples that follow belong to it. A family
// must be begun once per exposition; beginning it again panics (a
// duplicate family is an invalid exposition).
func (w *Writer) Begin(f *Family) {
	if w.written == nil {
		w.written = map[string]bool{}
	}
	if w.written[f.Name] {
		panic("promtext: family " + f.Name + " begun twice")
	}
	w.written[f.Name] = true
	w.pending = f
}

func (w *Writer) header() {
	f := w.pending
	if f == nil {
		return
	}
	w.pending = nil
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, f.Name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, f.Help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, f.Name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, f.Type...)
	w.b = append(w.b, '\n')
}

// Sample writes one series of the current family: its name (the
// family's, or the family's with a suffix for histograms), labels as
// name, value pairs, and value.
func (w *Writer) Sample(name string, v float64, labels ...string) {
	w.header()
	w.b = append(w.b, name...)
	if len(labels) >= 2 {
		w.b = append(w.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, labels[i]...)
			w.b = append(w.b, `="`...)
			w.b = appendEscaped(w.b, labels[i+1], true)
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
	w.b = AppendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

// Histogram writes the current family's histogram: per-bucket counts
// (not cumulative) for the upper bounds, then one more for the
// observations above the last bound, and the sum of all observations.
// len(counts) must be len(bounds)+1.
func (w *Writer) Histogram(name string, bounds []float64, counts []uint64, sum float64, labels ...string) {
	if len(counts) != len(bounds)+1 {
		panic("promtext: " + name + ": histogram needs one count per bound and one above")
	}
	le := make([]string, len(labels)+2)
	copy(le, labels)
	le[len(labels)] = "le"
	var cum uint64
	for i, b := range bounds {
		cum += counts[i]
		le[len(labels)+1] = string(AppendFloat(nil, b))
		w.Sample(name+"_bucket", float64(cum), le...)
	}
	cum += counts[len(bounds)]
	le[len(labels)+1] = "+Inf"
	w.Sample(name+"_bucket", float64(cum), le...)
	w.Sample(name+"_sum", sum, labels...)
	w.Sample(name+"_count", float64(cum), labels...)
}

// AppendFloat appends v as the Prometheus client writes sample values:
// the shortest decimal that reads back as v ('g' format), and +Inf, -Inf
// and NaN.
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendEscaped escapes a HELP text (backslash and newline) or a label
// value (also the double quote).
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
