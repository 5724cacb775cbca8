package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ftpalg/ftpalg/conntrack"
	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds what Parse and Load accept; a real configuration is
// a few kilobytes.
const maxFileSize = 1 << 20

// field is one known key: how its value is decoded into a Config, and
// how it is returned to its default (used to find which policy key a
// Policy.Validate error is about).
type field struct {
	name   string
	decode func(d *decoder, n *yaml.Node, key string, c *Config) error
	reset  func(c, def *Config)
	sub    []field // the keys of a section; nil for a setting
}

// decodeFunc decodes one value node; key is its dotted path for errors.
type decodeFunc[T any] func(d *decoder, n *yaml.Node, key string) (T, error)

// setting is a leaf key stored at *ptr(c).
func setting[T any](name string, ptr func(*Config) *T, dec decodeFunc[T]) field {
	return field{
		name: name,
		decode: func(d *decoder, n *yaml.Node, key string, c *Config) error {
			v, err := dec(d, n, key)
			if err != nil {
				return err
			}
			*ptr(c) = v
			return nil
		},
		reset: func(c, def *Config) { *ptr(c) = *ptr(def) },
	}
}

// section is a key whose value is a mapping of further keys.
func section(name string, fields []field) field {
	return field{
		name: name,
		decode: func(d *decoder, n *yaml.Node, key string, c *Config) error {
			return d.mapping(n, key, fields, c)
		},
		reset: func(c, def *Config) {
			for _, f := range fields {
				f.reset(c, def)
			}
		},
		sub: fields,
	}
}

// The schema. Keys are listed in the order of the reference config.
var (
	logFields = []field{
		setting("level", func(c *Config) *slog.Level { return &c.Log.Level }, decLevel),
		setting("format", func(c *Config) *string { return &c.Log.Format }, decString),
	}
	queueFields = []field{
		setting("num", func(c *Config) *uint16 { return &c.Queue.Num }, decUint[uint16]),
		setting("count", func(c *Config) *uint16 { return &c.Queue.Count }, decUint[uint16]),
		setting("fail_open", func(c *Config) *bool { return &c.Queue.FailOpen }, decBool),
		setting("max_len", func(c *Config) *uint32 { return &c.Queue.MaxLen }, decUint[uint32]),
	}
	pinholeFields = []field{
		setting("timeout", func(c *Config) *time.Duration { return &c.Pinhole.Timeout }, decDuration),
		setting("mark", func(c *Config) *uint32 { return &c.Pinhole.Mark }, decUint[uint32]),
	}
	divertFields = []field{
		setting("resized_mark", func(c *Config) *uint32 { return &c.Divert.ResizedMark }, decUint[uint32]),
	}
	policyFields = []field{
		setting("min_data_port", func(c *Config) *uint16 { return &c.Policy.MinDataPort }, decUint[uint16]),
		setting("bounce_check", func(c *Config) *bool { return &c.Policy.BounceCheck }, decBool),
		setting("max_pinholes", func(c *Config) *int { return &c.Policy.MaxPinholes }, decInt),
		setting("max_client_pinholes", func(c *Config) *int { return &c.Policy.MaxClientPinholes }, decInt),
		setting("max_pinholes_total", func(c *Config) *int { return &c.Policy.MaxTotalPinholes }, decInt),
		setting("violation", func(c *Config) *conntrack.Violation { return &c.Policy.Violation }, decViolation),
		setting("max_line", func(c *Config) *int { return &c.Policy.MaxLine }, decInt),
		setting("hold_timeout", func(c *Config) *time.Duration { return &c.Policy.HoldTimeout }, decDuration),
		setting("max_held_segments", func(c *Config) *int { return &c.Policy.MaxHeldSegments }, decInt),
		setting("max_held_bytes", func(c *Config) *int { return &c.Policy.MaxHeldBytes }, decInt),
		setting("midstream", func(c *Config) *bool { return &c.Policy.Midstream }, decBool),
		setting("max_sessions", func(c *Config) *int { return &c.Policy.MaxSessions }, decInt),
		setting("session_idle", func(c *Config) *time.Duration { return &c.Policy.SessionIdle }, decDuration),
		setting("closed_linger", func(c *Config) *time.Duration { return &c.Policy.ClosedLinger }, decDuration),
	}
	statusFields = []field{
		setting("socket", func(c *Config) *string { return &c.Status.Socket }, decString),
	}
	metricsFields = []field{
		setting("listen", func(c *Config) *string { return &c.Metrics.Listen }, decString),
		setting("pprof", func(c *Config) *bool { return &c.Metrics.Pprof }, decBool),
	}
	topFields = []field{
		section("log", logFields),
		section("queue", queueFields),
		controlPortsField,
		setting("hooks", func(c *Config) *[]string { return &c.Hooks }, listOf(decString)),
		setting("table", func(c *Config) *string { return &c.Table }, decString),
		section("pinhole", pinholeFields),
		section("divert", divertFields),
		section("policy", policyFields),
		section("status", statusFields),
		section("metrics", metricsFields),
	}
)

// controlPortsField decodes control_ports: each item is a port, or a
// mapping {port: N, tls: MODE, passive_ports: LO-HI}.
var controlPortsField = field{
	name: "control_ports",
	decode: func(d *decoder, n *yaml.Node, key string, c *Config) error {
		items, err := listOf(decControlPort)(d, n, key)
		if err != nil {
			return err
		}
		c.ControlPorts = make([]uint16, len(items))
		c.TLS = nil
		for i, it := range items {
			c.ControlPorts[i] = it.port
			if it.hasTLS {
				if c.TLS == nil {
					c.TLS = map[uint16]conntrack.TLSRule{}
				}
				c.TLS[it.port] = it.tls
			}
		}
		return nil
	},
	reset: func(c, def *Config) {
		c.ControlPorts = append([]uint16(nil), def.ControlPorts...)
		c.TLS = nil
	},
}

type controlPort struct {
	port   uint16
	tls    conntrack.TLSRule
	hasTLS bool
}

var tlsModes = map[string]conntrack.TLSMode{
	"allow":             conntrack.TLSAllow,
	"block":             conntrack.TLSBlock,
	"passthrough-range": conntrack.TLSPassthroughRange,
}

func decControlPort(d *decoder, n *yaml.Node, key string) (controlPort, error) {
	if n.Kind != yaml.MappingNode {
		p, err := decUint[uint16](d, n, key)
		return controlPort{port: p}, err
	}
	var it controlPort
	it.tls = DefaultTLS
	var sawPort bool
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ikey := join(key, keyName(k.Value))
		if first, dup := seen[k.Value]; dup {
			return it, &Error{Line: k.Line, Key: ikey, Err: fmt.Errorf("duplicate key (first set on line %d)", first)}
		}
		seen[k.Value] = k.Line
		d.at[ikey] = k.Line
		switch k.Value {
		case "port":
			p, err := decUint[uint16](d, v, ikey)
			if err != nil {
				return it, err
			}
			it.port, sawPort = p, true
		case "tls":
			s, err := decString(d, v, ikey)
			if err != nil {
				return it, err
			}
			m, ok := tlsModes[s]
			if !ok {
				return it, &Error{Line: v.Line, Key: ikey, Err: fmt.Errorf("%q is not one of block, allow, passthrough-range", s)}
			}
			it.tls.Mode, it.hasTLS = m, true
		case "passive_ports":
			lo, hi, err := decPortRange(d, v, ikey)
			if err != nil {
				return it, err
			}
			it.tls.PassiveLo, it.tls.PassiveHi, it.hasTLS = lo, hi, true
		default:
			return it, &Error{Line: k.Line, Key: ikey, Err: errors.New("unknown key (known: port, tls, passive_ports)")}
		}
	}
	if !sawPort {
		return it, &Error{Line: n.Line, Key: key, Err: errors.New("no port: write {port: 21, tls: ...}")}
	}
	if it.tls.Mode == conntrack.TLSPassthroughRange && it.tls.PassiveLo == 0 {
		return it, &Error{Line: n.Line, Key: key, Err: errors.New("tls: passthrough-range needs passive_ports: LOW-HIGH (the server's passive port range)")}
	}
	return it, nil
}

// decPortRange decodes "LOW-HIGH" or a single port.
func decPortRange(d *decoder, n *yaml.Node, key string) (lo, hi uint16, err error) {
	if err := d.expect(n, key, yaml.ScalarNode, "a port range like 30000-30100"); err != nil {
		return 0, 0, err
	}
	a, b, ok := strings.Cut(n.Value, "-")
	if !ok {
		b = a
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("%q is not a port range LOW-HIGH with 1 <= LOW <= HIGH <= 65535", n.Value)}
	}
	return uint16(l), uint16(h), nil
}

func decViolation(d *decoder, n *yaml.Node, key string) (conntrack.Violation, error) {
	s, err := decString(d, n, key)
	if err != nil {
		return 0, err
	}
	switch s {
	case "refuse":
		return conntrack.ViolationRefuse, nil
	case "reset":
		return conntrack.ViolationReset, nil
	}
	return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("%q is not one of refuse, reset", s)}
}

// Parse decodes a configuration file strictly: settings the file leaves
// out keep the values of Default, everything else is an error. The result
// is validated; pinhole.timeout also sets Policy.PinholeTimeout. An empty
// file, or one holding only comments, gives Default. Errors are *Error,
// with the zero Config.
func Parse(data []byte) (Config, error) {
	c := Default()
	if len(data) > maxFileSize {
		return Config{}, &Error{Err: fmt.Errorf("%d bytes is more than the %d a configuration may have", len(data), maxFileSize)}
	}
	var doc, extra yaml.Node
	n, err := decodeDocuments(data, &doc, &extra)
	switch {
	case err != nil:
		return Config{}, syntaxError(data, err)
	case n == 0:
		return c, nil
	case n > 1:
		return Config{}, &Error{Line: extra.Line, Err: errors.New("a second YAML document; all settings belong in one")}
	}
	if len(doc.Content) != 1 {
		return Config{}, &Error{Line: doc.Line, Err: errors.New("malformed YAML document")}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return c, nil // "---" or "~" alone: nothing set
	}
	if root.Kind != yaml.MappingNode {
		return Config{}, &Error{Line: root.Line, Err: fmt.Errorf("the top level must be a mapping of settings (%s), got %s", names(topFields), describe(root))}
	}
	d := &decoder{at: lines{}}
	if err := d.mapping(root, "", topFields, &c); err != nil {
		return Config{}, err
	}
	c.Policy.PinholeTimeout = c.Pinhole.Timeout
	if err := c.validate(d.at); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads and parses the file at path. Its errors start with path.
func Load(path string) (Config, error) {
	data, err := readFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
		}
		return Config{}, fmt.Errorf("%s: config: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// decodeDocuments decodes the first two YAML documents of data into doc
// and extra and says how many there were (0, 1 or 2: more are not read).
func decodeDocuments(data []byte, doc, extra *yaml.Node) (int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i, n := range []*yaml.Node{doc, extra} {
		if err := dec.Decode(n); err == io.EOF {
			return i, nil
		} else if err != nil {
			return i, err
		}
	}
	return 2, nil
}

// syntaxError turns an error of the YAML library into an *Error with a
// line. The library's own line is missing for errors on the first line
// and counts from 0 for some errors, so the line is found here instead:
// it is the last line of the shortest prefix of the file (in whole lines)
// that gives the same error, found by bisection (an error, once reached,
// stays the same however much follows it).
func syntaxError(data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if _, aerr := strconv.Atoi(rest[:i]); aerr == nil {
				msg = rest[i+2:]
			}
		}
	}
	var ends []int // ends[i] is the offset just past line i+1
	for off := 0; off < len(data); {
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			off += i + 1
		} else {
			off = len(data)
		}
		ends = append(ends, off)
	}
	same := func(i int) bool {
		var doc, extra yaml.Node
		_, perr := decodeDocuments(data[:ends[i]], &doc, &extra)
		return perr != nil && perr.Error() == err.Error()
	}
	i := sort.Search(len(ends), same)
	if i == len(ends) { // not reproduced: keep what the library said
		return &Error{Err: errors.New("YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	return &Error{Line: i + 1, Err: errors.New("YAML syntax: " + msg)}
}

// readFile reads at most one byte more than Parse accepts, so an
// oversized file is refused without being read whole.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFileSize+1))
}

// decoder walks the node tree, recording the line of every key it sets
// so that validation can point at it.
type decoder struct {
	at lines
}

// mapping decodes the keys of n (the value at path) into c.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field, c *Config) error {
	if err := d.expect(n, path, yaml.MappingNode, "a mapping of "+names(fields)); err != nil {
		return err
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return &Error{Line: k.Line, Key: path, Err: fmt.Errorf("keys must be plain names, got %s", describe(k))}
		}
		key := join(path, keyName(k.Value))
		if first, dup := seen[k.Value]; dup {
			return &Error{Line: k.Line, Key: key, Err: fmt.Errorf("duplicate key (first set on line %d)", first)}
		}
		seen[k.Value] = k.Line
		f := lookup(fields, k.Value)
		if f == nil {
			return &Error{Line: k.Line, Key: key, Err: fmt.Errorf("unknown key (known: %s)", names(fields))}
		}
		d.at[key] = k.Line
		if err := f.decode(d, v, key, c); err != nil {
			return err
		}
	}
	return nil
}

// expect checks that n is a present value of the given kind.
func (d *decoder) expect(n *yaml.Node, key string, kind yaml.Kind, what string) error {
	switch {
	case n.Kind == yaml.AliasNode:
		return &Error{Line: n.Line, Key: key, Err: fmt.Errorf("aliases (*%s) are not allowed; write the value out", show(n.Value))}
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return &Error{Line: n.Line, Key: key, Err: errors.New("no value (remove the key to keep the default)")}
	case n.Kind != kind:
		return &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected %s, got %s", what, describe(n))}
	}
	return nil
}

// listOf decodes a sequence whose items are decoded by item; their paths
// are key[i].
func listOf[T any](item decodeFunc[T]) decodeFunc[[]T] {
	return func(d *decoder, n *yaml.Node, key string) ([]T, error) {
		if err := d.expect(n, key, yaml.SequenceNode, "a list like [a, b]"); err != nil {
			return nil, err
		}
		out := make([]T, 0, len(n.Content))
		for i, it := range n.Content {
			ikey := key + "[" + strconv.Itoa(i) + "]"
			d.at[ikey] = it.Line
			v, err := item(d, it, ikey)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
}

func decString(d *decoder, n *yaml.Node, key string) (string, error) {
	if err := d.expect(n, key, yaml.ScalarNode, "a string"); err != nil {
		return "", err
	}
	if n.ShortTag() != "!!str" {
		return "", &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected a string, got %s (quote it if a string is meant)", describe(n))}
	}
	return n.Value, nil
}

func decLevel(d *decoder, n *yaml.Node, key string) (slog.Level, error) {
	s, err := decString(d, n, key)
	if err != nil {
		return 0, err
	}
	for _, l := range levelNames {
		if s == l.name {
			return l.level, nil
		}
	}
	return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("unknown level %q (known: debug, info, warn, error)", clip(s))}
}

func decBool(d *decoder, n *yaml.Node, key string) (bool, error) {
	if err := d.expect(n, key, yaml.ScalarNode, "true or false"); err != nil {
		return false, err
	}
	if n.ShortTag() == "!!bool" {
		switch n.Value {
		case "true", "True", "TRUE":
			return true, nil
		case "false", "False", "FALSE":
			return false, nil
		}
	}
	return false, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected true or false, got %s", describe(n))}
}

func decDuration(d *decoder, n *yaml.Node, key string) (time.Duration, error) {
	if err := d.expect(n, key, yaml.ScalarNode, "a duration like 30s"); err != nil {
		return 0, err
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("duration %s needs a unit, like 30s, 250ms or 2h", show(n.Value))}
	case "!!str":
	default:
		return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected a duration like 30s, got %s", describe(n))}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if strings.Contains(err.Error(), "missing unit") {
			return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("duration %q needs a unit, like 30s, 250ms or 2h", clip(n.Value))}
		}
		return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("invalid duration %q (write it like 30s, 250ms or 2h)", clip(n.Value))}
	}
	return v, nil
}

// decUint decodes an unsigned integer that must fit T.
func decUint[T ~uint16 | ~uint32](d *decoder, n *yaml.Node, key string) (T, error) {
	neg, mag, err := d.integer(n, key)
	if err != nil {
		return 0, err
	}
	if neg && mag != 0 {
		return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("value %s must not be negative", show(n.Value))}
	}
	if max := uint64(^T(0)); mag > max {
		return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("value %s too large (max %d)", show(n.Value), max)}
	}
	return T(mag), nil
}

// decInt decodes a signed integer; its range is the policy's business.
func decInt(d *decoder, n *yaml.Node, key string) (int, error) {
	neg, mag, err := d.integer(n, key)
	if err != nil {
		return 0, err
	}
	switch {
	case !neg && mag <= math.MaxInt:
		return int(mag), nil
	case neg && mag <= math.MaxInt:
		return -int(mag), nil
	case neg && mag == math.MaxInt+1:
		return math.MinInt, nil
	}
	return 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("value %s out of range %d to %d", show(n.Value), math.MinInt, math.MaxInt)}
}

// integer parses an integer scalar: optional sign, then decimal without
// leading zeros or hex with 0x, with _ allowed between digits. Octal,
// binary, floats and quoted numbers are refused. A magnitude beyond
// uint64 comes back as math.MaxUint64, which every caller rejects.
func (d *decoder) integer(n *yaml.Node, key string) (neg bool, mag uint64, err error) {
	if err := d.expect(n, key, yaml.ScalarNode, "an integer"); err != nil {
		return false, 0, err
	}
	if tag := n.ShortTag(); tag != "!!int" && tag != "!!float" {
		return false, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected an integer, got %s", describe(n))}
	}
	s := n.Value
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	hex := len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	switch {
	case s == "" || s[0] < '0' || s[0] > '9':
		return false, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected an integer, got %s", describe(n))}
	case !hex && s[0] == '0' && len(s) > 1 && '0' <= s[1] && s[1] <= '9':
		return false, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("integer %s has a leading zero; write it in decimal without one, or in hex with 0x", show(n.Value))}
	case !hex && s != "0" && s[0] == '0':
		return false, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("integer %s: only decimal and hex (0x) are accepted", show(n.Value))}
	}
	// Base 0 reads the 0x prefix and the _ separators; the cases above
	// leave it only decimal and hex to read.
	mag, perr := strconv.ParseUint(s, 0, 64)
	switch {
	case errors.Is(perr, strconv.ErrRange):
		return neg, math.MaxUint64, nil
	case perr != nil && n.ShortTag() == "!!float":
		return false, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("expected an integer, got %s", describe(n))}
	case perr != nil:
		return false, 0, &Error{Line: n.Line, Key: key, Err: fmt.Errorf("invalid integer %s (write it in decimal, or in hex with 0x)", show(n.Value))}
	}
	return neg, mag, nil
}

func lookup(fields []field, name string) *field {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	return nil
}

func names(fields []field) string {
	s := make([]string, len(fields))
	for i, f := range fields {
		s[i] = f.name
	}
	return strings.Join(s, ", ")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// keyName is a key as it appears in a path: bare when it looks like a
// key, quoted otherwise so that hostile names cannot garble the message.
func keyName(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(clip(s))
		}
	}
	if s == "" {
		return `""`
	}
	return clip(s)
}

// describe says what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch tag := n.ShortTag(); tag {
	case "!!str":
		return "string " + strconv.Quote(clip(n.Value))
	case "!!int":
		return "integer " + show(n.Value)
	case "!!float":
		return "number " + show(n.Value)
	case "!!bool":
		return "boolean " + show(n.Value)
	case "!!null":
		return "null"
	default:
		return strconv.Quote(clip(tag)) + " " + strconv.Quote(clip(n.Value))
	}
}

// clip shortens a value from the file for an error message, at a rune
// boundary.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// show is clip for values printed unquoted: anything but printable
// characters gets quoted, so that a hostile value cannot garble the
// message.
func show(s string) string {
	s = clip(s)
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
