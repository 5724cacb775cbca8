package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"go.yaml.in/yaml/v3"
)

const referencePath = "../testdata/ftpalg.yaml"

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultIsDocumented compares Default() with the defaults as the
// README ("Install for real use", "Policy (defaults)", "Lines split across
// segments", "FTPS") and testdata/ftpalg.yaml state them, written out as
// literals: a changed default must change this test and the documents.
func TestDefaultIsDocumented(t *testing.T) {
	wantPolicy := conntrack.Policy{
		MinDataPort:       1024,                      // data ports below 1024 refused
		BounceCheck:       true,                      // RFC 2577 bounce protection
		MaxPinholes:       4,                         // per session
		MaxClientPinholes: 64,                        // per client address
		MaxTotalPinholes:  4096,                      // in total
		Violation:         conntrack.ViolationRefuse, // policy.violation: refuse
		PinholeTimeout:    30 * time.Second,          // pinholes live 30 s
		MaxLine:           1024,                      // lines over 1024 bytes discarded
		HoldTimeout:       250 * time.Millisecond,    // held at most 250 ms,
		MaxHeldSegments:   64,                        // 64 segments
		MaxHeldBytes:      4096,                      // and 4096 bytes
		Midstream:         true,                      // policy.midstream: true
		MaxSessions:       65536,                     // policy.max_sessions: 65536
		SessionIdle:       2 * time.Hour,             // policy.session_idle: 2h
		ClosedLinger:      2 * time.Minute,           // policy.closed_linger: 2m
	}
	d := Default()
	if d.Policy != wantPolicy {
		t.Errorf("Default().Policy =\n %+v\nwant the documented\n %+v", d.Policy, wantPolicy)
	}
	if p := conntrack.DefaultPolicy(); p != wantPolicy {
		t.Errorf("conntrack.DefaultPolicy() =\n %+v\nwant the documented\n %+v", p, wantPolicy)
	}
	want := Config{
		Log:          Log{Level: slog.LevelInfo, Format: "text"},
		Queue:        Queue{Num: 0, Count: 1, FailOpen: true, MaxLen: 4096},
		ControlPorts: []uint16{21},
		Hooks:        []string{"forward"},
		Table:        "ftpalg",
		Pinhole:      Pinhole{Timeout: 30 * time.Second, Mark: 0x2000},
		Divert:       Divert{ResizedMark: 0x4000},
		Policy:       wantPolicy,
		Status:       Status{Socket: "/run/ftpalg/ftpalg.sock"},
		Metrics:      Metrics{Listen: ""}, // metrics off
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Default() =\n %+v\nwant the documented\n %+v", d, want)
	}
	// A control port without a TLS entry blocks AUTH (README, FTPS: block
	// is the default).
	if r := d.TLSRule(21); r != (conntrack.TLSRule{Mode: conntrack.TLSBlock}) {
		t.Errorf("Default().TLSRule(21) = %+v, want block", r)
	}
}

func TestReferenceConfigIsDefault(t *testing.T) {
	c, err := Load(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("reference config differs from Default():\n got %+v\nwant %+v", c, Default())
	}
}

// TestReferenceConfigSetsEveryKey keeps the reference config complete:
// each key of the schema must appear in it.
func TestReferenceConfigSetsEveryKey(t *testing.T) {
	data, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	d := &decoder{at: lines{}}
	c := Default()
	if err := d.mapping(doc.Content[0], "", topFields, &c); err != nil {
		t.Fatal(err)
	}
	for _, key := range schemaKeys("", topFields) {
		if _, ok := d.at[key]; !ok {
			t.Errorf("reference config does not set %s", key)
		}
	}
}

// schemaKeys lists the dotted paths of every key in the schema.
func schemaKeys(path string, fields []field) []string {
	var keys []string
	for _, f := range fields {
		key := join(path, f.name)
		keys = append(keys, key)
		keys = append(keys, schemaKeys(key, f.sub)...)
	}
	return keys
}

func TestEmptyIsDefault(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only\n  # comments\n", "---\n", "~\n", "--- # nothing\n...\n"} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", in, c)
		}
	}
}

// allSet sets every key to a value other than its default.
const allSet = `log:
  level: debug
  format: json
queue:
  num: 0x10
  count: 4
  fail_open: false
  max_len: 512
control_ports: [21, {port: 2121, tls: passthrough-range, passive_ports: 30000-30100}, {port: 990, tls: allow}]
hooks:
  - input
  - output
table: ftp-alg_2
pinhole:
  timeout: 1m30s
  mark: 0x100
divert:
  resized_mark: 0x80000000
policy:
  min_data_port: 2048
  bounce_check: false
  max_pinholes: 8
  max_client_pinholes: 16
  max_pinholes_total: 100
  violation: reset
  max_line: 2048
  hold_timeout: 500ms
  max_held_segments: 32
  max_held_bytes: 0x2000
  midstream: false
  max_sessions: 1_000
  session_idle: 1h
  closed_linger: 30s
status:
  socket: /run/ftpalg-2/status.sock
metrics:
  listen: "[::1]:9127"
  pprof: true
`

func allSetConfig() Config {
	return Config{
		Log:          Log{Level: slog.LevelDebug, Format: "json"},
		Queue:        Queue{Num: 16, Count: 4, FailOpen: false, MaxLen: 512},
		ControlPorts: []uint16{21, 2121, 990},
		TLS: map[uint16]conntrack.TLSRule{
			2121: {Mode: conntrack.TLSPassthroughRange, PassiveLo: 30000, PassiveHi: 30100},
			990:  {Mode: conntrack.TLSAllow},
		},
		Hooks:   []string{"input", "output"},
		Table:   "ftp-alg_2",
		Pinhole: Pinhole{Timeout: 90 * time.Second, Mark: 0x100},
		Divert:  Divert{ResizedMark: 0x80000000},
		Policy: conntrack.Policy{
			MinDataPort:       2048,
			BounceCheck:       false,
			MaxPinholes:       8,
			MaxClientPinholes: 16,
			MaxTotalPinholes:  100,
			Violation:         conntrack.ViolationReset,
			PinholeTimeout:    90 * time.Second,
			MaxLine:           2048,
			HoldTimeout:       500 * time.Millisecond,
			MaxHeldSegments:   32,
			MaxHeldBytes:      8192,
			Midstream:         false,
			MaxSessions:       1000,
			SessionIdle:       time.Hour,
			ClosedLinger:      30 * time.Second,
		},
		Status:  Status{Socket: "/run/ftpalg-2/status.sock"},
		Metrics: Metrics{Listen: "[::1]:9127", Pprof: true},
	}
}

func TestEveryKeyOverrides(t *testing.T) {
	c, err := Parse([]byte(allSet))
	if err != nil {
		t.Fatal(err)
	}
	want := allSetConfig()
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse(allSet):\n got %+v\nwant %+v", c, want)
	}
	// Each setting must really differ from its default, or the test
	// above would not show that the key overrides anything.
	def := Default()
	var check func(path string, fields []field)
	check = func(path string, fields []field) {
		for _, f := range fields {
			key := join(path, f.name)
			if f.sub != nil {
				check(key, f.sub)
				continue
			}
			q := want
			f.reset(&q, &def)
			if reflect.DeepEqual(q, want) {
				t.Errorf("allSet gives %s its default value", key)
			}
		}
	}
	check("", topFields)
}

func TestIntegers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"0x2000", 0x2000},
		{"0X2000", 0x2000},
		{"8192", 8192},
		{"0x1", 1},
		{"0xFFFF_FFFF", 0xffffffff},
		{"4294967295", 0xffffffff},
		{"+7", 7},
		{"1_024", 1024},
	} {
		c, err := Parse([]byte("pinhole:\n  mark: " + tc.in + "\ndivert:\n  resized_mark: 0x80000000\n"))
		if tc.want&0x80000000 != 0 {
			// Decoded, but no bit is left for the resized mark.
			if err == nil || !strings.Contains(err.Error(), "divert.resized_mark: 0x80000000 shares bits 0x80000000 with pinhole.mark 0xffffffff") {
				t.Errorf("mark: %s: %v, want the resized mark's overlap", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("mark: %s: %v", tc.in, err)
			continue
		}
		if c.Pinhole.Mark != tc.want {
			t.Errorf("mark: %s = %#x, want %#x", tc.in, c.Pinhole.Mark, tc.want)
		}
	}
	c, err := Parse([]byte("policy:\n  max_sessions: 0x10000\n  min_data_port: 0x400\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.MaxSessions != 65536 || c.Policy.MinDataPort != 1024 {
		t.Errorf("hex policy values: got %d, %d", c.Policy.MaxSessions, c.Policy.MinDataPort)
	}
}

func TestPinholeTimeoutSetsPolicy(t *testing.T) {
	c, err := Parse([]byte("pinhole: {timeout: 45s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pinhole.Timeout != 45*time.Second || c.Policy.PinholeTimeout != 45*time.Second {
		t.Errorf("pinhole.timeout 45s: Pinhole.Timeout %v, Policy.PinholeTimeout %v", c.Pinhole.Timeout, c.Policy.PinholeTimeout)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		line int    // 0: the error must not claim a line
		key  string // dotted key path, "" for the document
		msg  string // part of the message; "" for an edge case that must parse
	}{
		// Structure.
		{"unknown top-level key", "table: x\nqueues: 2\n", 2, "queues", "unknown key (known: log, queue, control_ports, hooks, table, pinhole, divert, policy, status, metrics)"},
		{"unknown nested key", "queue:\n  num: 1\n  cont: 2\n", 3, "queue.cont", "unknown key (known: num, count, fail_open, max_len)"},
		{"unknown policy key", "policy:\n  pinhole_timeout: 5s\n", 2, "policy.pinhole_timeout", "unknown key"},
		{"merge key", "q: &q {num: 1}\nqueue:\n  <<: *q\n", 1, "q", "unknown key"},
		{"odd key quoted", "log:\n  \"le\\nvel\": info\n", 2, `log."le\nvel"`, "unknown key"},
		{"duplicate top-level key", "table: a\nhooks: [input]\ntable: b\n", 3, "table", "duplicate key (first set on line 1)"},
		{"duplicate nested key", "pinhole:\n  mark: 1\n  mark: 2\n", 3, "pinhole.mark", "duplicate key (first set on line 2)"},
		{"duplicate section", "log: {level: info}\nlog: {format: json}\n", 2, "log", "duplicate key"},
		{"section not a mapping", "queue: 3\n", 1, "queue", "expected a mapping of num, count, fail_open, max_len, got integer 3"},
		{"section null", "pinhole:\n", 1, "pinhole", "no value"},
		{"complex key", "? [a]\n: 1\n", 1, "", "keys must be plain names"},
		{"alias", "table: &t ftpalg\npolicy:\n  max_line: *t\n", 3, "policy.max_line", "aliases (*t) are not allowed"},
		{"multiple documents", "table: a\n---\ntable: b\n", 2, "", "second YAML document"},
		{"trailing document marker", "table: a\n---\n", 2, "", "second YAML document"},
		{"top level list", "- table: a\n", 1, "", "top level must be a mapping"},
		{"top level scalar", "\n\nftpalg\n", 3, "", "top level must be a mapping"},

		// Types.
		{"count string", "queue:\n  count: \"two\"\n", 2, "queue.count", `expected an integer, got string "two"`},
		{"count quoted number", "queue:\n  count: \"2\"\n", 2, "queue.count", `expected an integer, got string "2"`},
		{"fail_open integer", "queue:\n  fail_open: 1\n", 2, "queue.fail_open", "expected true or false, got integer 1"},
		{"fail_open yes", "queue:\n  fail_open: yes\n", 2, "queue.fail_open", `expected true or false, got string "yes"`},
		{"fail_open null", "queue:\n  fail_open: ~\n", 2, "queue.fail_open", "no value"},
		{"mark negative", "pinhole:\n  mark: -1\n", 2, "pinhole.mark", "value -1 must not be negative"},
		{"mark overflow", "pinhole:\n  mark: 0x1_0000_0000\n", 2, "pinhole.mark", "too large (max 4294967295)"},
		{"mark huge", "pinhole:\n  mark: 99999999999999999999999\n", 2, "pinhole.mark", "too large"},
		{"mark float", "pinhole:\n  mark: 1.5\n", 2, "pinhole.mark", "expected an integer, got number 1.5"},
		{"mark float exponent", "pinhole:\n  mark: 1e3\n", 2, "pinhole.mark", "expected an integer"},
		{"mark octal", "pinhole:\n  mark: 0o20000\n", 2, "pinhole.mark", "only decimal and hex"},
		{"mark binary", "pinhole:\n  mark: 0b1\n", 2, "pinhole.mark", "only decimal and hex"},
		{"mark leading zero", "pinhole:\n  mark: 010\n", 2, "pinhole.mark", "leading zero"},
		{"mark double underscore", "pinhole:\n  mark: 1__0\n", 2, "pinhole.mark", "invalid integer 1__0"},
		{"mark hex without digits", "pinhole:\n  mark: 0x\n", 2, "pinhole.mark", `expected an integer, got string "0x"`},
		{"mark list", "pinhole:\n  mark: [1]\n", 2, "pinhole.mark", "expected an integer, got a list"},
		{"mark tagged", "pinhole:\n  mark: !!str 5\n", 2, "pinhole.mark", `got string "5"`},
		{"num overflow", "queue:\n  num: 65536\n", 2, "queue.num", "too large (max 65535)"},
		{"policy int overflow", "policy:\n  max_sessions: 0x8000_0000_0000_0000\n", 2, "policy.max_sessions", "out of range"},
		{"control_ports scalar", "control_ports: 21\n", 1, "control_ports", "expected a list like [a, b], got integer 21"},
		{"control_ports item string", "control_ports:\n  - 21\n  - ftp\n", 3, "control_ports[1]", `got string "ftp"`},
		{"hooks scalar", "hooks: forward\n", 1, "hooks", "expected a list"},
		{"hooks item integer", "hooks: [input, 3]\n", 1, "hooks[1]", "expected a string, got integer 3"},
		{"table integer", "table: 123\n", 1, "table", "expected a string, got integer 123"},
		{"duration without unit", "pinhole:\n  timeout: 30\n", 2, "pinhole.timeout", "needs a unit"},
		{"quoted duration without unit", "policy:\n  hold_timeout: \"250\"\n", 2, "policy.hold_timeout", "needs a unit"},
		{"bad duration", "policy:\n  session_idle: 2 hours\n", 2, "policy.session_idle", `invalid duration "2 hours"`},
		{"duration boolean", "policy:\n  closed_linger: true\n", 2, "policy.closed_linger", "expected a duration like 30s, got boolean true"},

		// Values.
		{"bad level", "log:\n  level: verbose\n", 2, "log.level", `unknown level "verbose" (known: debug, info, warn, error)`},
		{"level upper case", "log:\n  level: INFO\n", 2, "log.level", "unknown level"},
		{"bad format", "log:\n  format: xml\n", 2, "log.format", `format "xml" is not one of text, json`},
		{"queue count zero", "queue:\n  count: 0\n", 2, "queue.count", "count 0 out of range 1-64"},
		{"queue count too big", "queue:\n  count: 65\n", 2, "queue.count", "out of range 1-64"},
		{"queue range overflow", "queue:\n  num: 65530\n  count: 10\n", 3, "queue.count", "queues 65530-65539 run past 65535"},
		{"queue range at the top is fine", "queue:\n  num: 65535\n  count: 1\n", 0, "", ""},
		{"port 0", "control_ports: [21, 0]\n", 1, "control_ports[1]", "port 0 out of range 1-65535"},
		{"port 65536", "control_ports:\n  - 65536\n", 2, "control_ports[0]", "too large (max 65535)"},
		{"port negative", "control_ports: [-21]\n", 1, "control_ports[0]", "must not be negative"},
		{"duplicate port", "control_ports:\n  - 21\n  - 2121\n  - 21\n", 4, "control_ports[2]", "port 21 listed twice (also control_ports[0])"},
		{"no ports", "control_ports: []\n", 1, "control_ports", "at least one control port"},
		{"bad hook", "hooks: [forward, prerouting]\n", 1, "hooks[1]", `hook "prerouting" is not one of forward, input, output`},
		{"duplicate hook", "hooks:\n  - input\n  - input\n", 3, "hooks[1]", `hook "input" listed twice`},
		{"no hooks", "hooks: []\n", 1, "hooks", "at least one hook"},
		{"table empty", "table: \"\"\n", 1, "table", "1-64 characters"},
		{"table bad characters", "table: ftp alg\n", 1, "table", "only letters, digits, _ and -"},
		{"table too long", "table: " + strings.Repeat("t", 65) + "\n", 1, "table", "1-64 characters, got 65"},
		{"zero mark", "pinhole:\n  mark: 0\n", 2, "pinhole.mark", "value 0 must be non-zero"},
		{"zero resized mark", "divert:\n  resized_mark: 0\n", 2, "divert.resized_mark", "value 0 must be non-zero"},
		{"resized mark overlaps the pinhole mark", "divert:\n  resized_mark: 0x6000\n", 2, "divert.resized_mark", "shares bits 0x2000 with pinhole.mark 0x2000"},
		{"pinhole mark moved onto the resized mark", "pinhole:\n  mark: 0x4000\n", 2, "pinhole.mark", "shares bits 0x4000"},
		{"zero timeout", "pinhole:\n  timeout: 0s\n", 2, "pinhole.timeout", "out of range"},
		{"negative timeout", "pinhole:\n  timeout: -5s\n", 2, "pinhole.timeout", "out of range"},
		{"long timeout", "pinhole:\n  timeout: 1h1s\n", 2, "pinhole.timeout", "timeout 1h0m1s out of range (must be above 0 and at most 1h)"},
		{"metrics listen IPv4", "metrics:\n  listen: 127.0.0.1:9127\n", 0, "", ""},
		{"metrics listen IPv6", "metrics: {listen: \"[::1]:9127\"}\n", 0, "", ""},
		{"metrics listen any address", "metrics: {listen: \":9127\"}\n", 0, "", ""},
		{"metrics listen host name", "metrics: {listen: \"localhost:9127\"}\n", 0, "", ""},
		{"metrics listen empty is off", "metrics: {listen: \"\"}\n", 0, "", ""},
		{"metrics listen no port", "metrics:\n  listen: 127.0.0.1\n", 2, "metrics.listen", `"127.0.0.1" is not host:port`},
		{"metrics listen bare IPv6", "metrics:\n  listen: \"::1:9127\"\n", 2, "metrics.listen", "is not host:port"},
		{"metrics listen port 0", "metrics:\n  listen: 127.0.0.1:0\n", 2, "metrics.listen", `port "0" in "127.0.0.1:0" is not a number 1-65535`},
		{"metrics listen port too big", "metrics:\n  listen: 127.0.0.1:65536\n", 2, "metrics.listen", "not a number 1-65535"},
		{"metrics listen port name", "metrics:\n  listen: localhost:http\n", 2, "metrics.listen", `port "http"`},
		{"metrics listen port leading zero", "metrics:\n  listen: localhost:09127\n", 2, "metrics.listen", "not a number"},
		{"metrics listen bad host", "metrics:\n  listen: \"bad host:9127\"\n", 2, "metrics.listen", `host "bad host" in "bad host:9127" is neither`},
		{"metrics listen zone", "metrics:\n  listen: \"[fe80::1%eth0]:9127\"\n", 2, "metrics.listen", "zones are not supported"},
		{"metrics listen integer", "metrics:\n  listen: 9127\n", 2, "metrics.listen", "expected a string, got integer 9127"},
		{"metrics unknown key", "metrics:\n  port: 9127\n", 2, "metrics.port", "unknown key (known: listen, pprof)"},

		// Rejected by conntrack.Policy.Validate.
		{"max_pinholes zero", "policy:\n  max_pinholes: 0\n", 2, "policy.max_pinholes", "max pinholes 0 out of range 1-64"},
		{"max_pinholes above cap", "policy:\n  midstream: false\n  max_pinholes: 65\n", 3, "policy.max_pinholes", "out of range 1-64"},
		{"max_line too small", "policy:\n  max_line: 10\n", 2, "policy.max_line", "max line 10 out of range"},
		{"max_line above held bytes", "policy:\n  max_line: 8192\n", 2, "policy.max_line", "max held bytes 4096 below max line 8192"},
		{"held bytes below max_line", "policy:\n  max_line: 100\n  max_held_bytes: 50\n", 3, "policy.max_held_bytes", "max held bytes 50 below max line 100"},
		{"hold_timeout zero", "policy:\n  hold_timeout: 0s\n", 2, "policy.hold_timeout", "hold timeout 0s must be positive"},
		{"held segments zero", "policy:\n  max_held_segments: 0\n", 2, "policy.max_held_segments", "at least 1"},
		{"max_sessions negative", "policy:\n  max_sessions: -1\n", 2, "policy.max_sessions", "max sessions -1 must be at least 1"},
		{"session_idle negative", "policy:\n  session_idle: -1h\n", 2, "policy.session_idle", "must be positive"},
		{"closed_linger zero", "policy:\n  session_idle: 1h\n  closed_linger: 0s\n", 3, "policy.closed_linger", "must be positive"},

		// Syntax: the YAML library's message, at a line found by package config.
		{"syntax unclosed list", "table: a\nhooks: [input\nlog: {}\n", 2, "", "YAML syntax: did not find expected ',' or ']'"},
		{"syntax first line", "table: a: b\n", 1, "", "YAML syntax: mapping values are not allowed"},
		{"syntax bad indent", "queue:\n  num: 1\n    count: 2\n", 3, "", "YAML syntax"},
		{"syntax in second document", "table: a\n---\nb: c: d\n", 3, "", "YAML syntax"},
		{"syntax tab indent", "queue:\n\tnum: 1\n", 2, "", "YAML syntax"},
		{"control character", "table: a\ntable: \x01\n", 2, "", "control characters"},
		{"unknown alias", "table: *nope\n", 1, "", "unknown anchor"},
		{"status socket relative", "status:\n  socket: ftpalg.sock\n", 2, "status.socket", "absolute file path"},
		{"status socket too long", "status: {socket: /" + strings.Repeat("x", 107) + "}\n", 1, "status.socket", "at most 107 bytes"},
		{"status socket ok", "status: {socket: /run/x.sock}\n", 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tc.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tc.in)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q): %T %v, want *Error", tc.in, err, err)
			}
			if e.Line != tc.line || e.Key != tc.key {
				t.Errorf("Parse(%q): %v: at line %d key %q, want line %d key %q", tc.in, err, e.Line, e.Key, tc.line, tc.key)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Parse(%q): %v, want it to mention %q", tc.in, err, tc.msg)
			}
			want := "config: "
			if tc.line > 0 {
				want += "line " + strconv.Itoa(tc.line) + ": "
			}
			if tc.key != "" {
				want += tc.key + ": "
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Parse(%q): %v, want it to start with %q", tc.in, err, want)
			}
		})
	}
}

// TestBadFiles parses the edge cases kept in testdata/config; each file
// states the error it must give on its first line: "# want: line N: key: msg".
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("../testdata/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files in ../testdata/config")
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		want, ok := strings.CutPrefix(first, "# want: ")
		if !ok {
			t.Errorf("%s: first line must be \"# want: ...\"", path)
			continue
		}
		_, err = Load(path)
		if err == nil {
			t.Errorf("Load(%s) succeeded, want %q", path, want)
			continue
		}
		if got := err.Error(); got != path+": config: "+want {
			t.Errorf("Load(%s):\n got %s\nwant %s", path, got, path+": config: "+want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(missing)
	if err == nil || !strings.HasPrefix(err.Error(), missing+": config: ") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a not-exist error prefixed with the path", err)
	}

	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", maxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Load(big) = %v, want a size error", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		key    string
		msg    string
	}{
		{"odd level", func(c *Config) { c.Log.Level = slog.LevelInfo + 2 }, "log.level", "not one of debug"},
		{"empty format", func(c *Config) { c.Log.Format = "" }, "log.format", "not one of text, json"},
		{"timeouts differ", func(c *Config) { c.Pinhole.Timeout = time.Minute }, "pinhole.timeout", "differs from Policy.PinholeTimeout"},
		{"nil ports", func(c *Config) { c.ControlPorts = nil }, "control_ports", "at least one"},
		{"queue range", func(c *Config) { c.Queue.Num = 65535; c.Queue.Count = 2 }, "queue.num", "run past 65535"},
		{"policy", func(c *Config) { c.Policy.MaxHeldSegments = 0 }, "policy", "max held segments 0"},
		{"metrics listen", func(c *Config) { c.Metrics.Listen = "9127" }, "metrics.listen", "is not host:port"},
		{"pprof without listen", func(c *Config) { c.Metrics.Pprof = true }, "metrics.pprof", "needs metrics.listen"},
	} {
		c := Default()
		tc.modify(&c)
		err := c.Validate()
		var e *Error
		if !errors.As(err, &e) || e.Line != 0 || e.Key != tc.key || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Validate() = %v, want key %q without a line, mentioning %q", tc.name, err, tc.key, tc.msg)
		}
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	for _, c := range []Config{Default(), allSetConfig()} {
		out := c.YAML()
		got, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(YAML()): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Parse(YAML()) = %+v, want %+v\n%s", got, c, out)
		}
	}
	out := string(Default().YAML())
	for _, want := range []string{"mark: 0x2000\n", "resized_mark: 0x4000\n", "session_idle: 2h\n", "closed_linger: 2m\n", "hooks: [forward]\n", "control_ports: [21]\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Default().YAML() lacks %q:\n%s", want, out)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Hour:                   "2h",
		2 * time.Minute:                 "2m",
		90 * time.Minute:                "1h30m",
		time.Hour + 30*time.Second:      "1h0m30s",
		250 * time.Millisecond:          "250ms",
		10 * time.Minute:                "10m",
		1500 * time.Millisecond:         "1.5s",
		0:                               "0s",
		-(time.Hour + 10*time.Minute):   "-1h10m",
		time.Hour + 100*time.Nanosecond: "1h0m0.0000001s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(want); err != nil || back != d {
			t.Errorf("%q parses to %v, %v; want %v", want, back, err, d)
		}
	}
}

func FuzzParse(f *testing.F) {
	ref, err := os.ReadFile(referencePath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref)
	f.Add([]byte(allSet))
	f.Add([]byte(""))
	f.Add([]byte("queue:\n  cont: 2\n"))
	f.Add([]byte("pinhole:\n  mark: 0x1_0000_0000\n"))
	f.Add([]byte("pinhole: {timeout: 30, mark: 0}\n"))
	f.Add([]byte("control_ports: [21, 21]\nhooks: [forward, input]\n"))
	f.Add([]byte("policy: {max_line: 100, max_held_bytes: 50}\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n---\nc: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error %T %v is not an *Error", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		out := c.YAML()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(YAML()): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("Parse(YAML()) = %+v, want %+v", back, c)
		}
	})
}
