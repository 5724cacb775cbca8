package config

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"go.yaml.in/yaml/v3"
)

// YAML renders c as a configuration file that sets every key, for
// `ftpalg check -print`. For a valid c, Parse(c.YAML()) gives c back.
// Policy.PinholeTimeout is not rendered: pinhole.timeout stands for it.
func (c Config) YAML() []byte {
	ports := make([]*yaml.Node, len(c.ControlPorts))
	for i, p := range c.ControlPorts {
		r, ok := c.TLS[p]
		if !ok {
			ports[i] = intNode(uint64(p))
			continue
		}
		item := mapNode("port", intNode(uint64(p)), "tls", strNode(r.Mode.String()))
		if r.Mode == conntrack.TLSPassthroughRange {
			item = mapNode("port", intNode(uint64(p)), "tls", strNode(r.Mode.String()),
				"passive_ports", strNode(strconv.Itoa(int(r.PassiveLo))+"-"+strconv.Itoa(int(r.PassiveHi))))
		}
		item.Style = yaml.FlowStyle
		ports[i] = item
	}
	hooks := make([]*yaml.Node, len(c.Hooks))
	for i, h := range c.Hooks {
		hooks[i] = strNode(h)
	}
	p := c.Policy
	root := mapNode(
		"log", mapNode(
			"level", strNode(levelName(c.Log)),
			"format", strNode(c.Log.Format),
		),
		"queue", mapNode(
			"num", intNode(uint64(c.Queue.Num)),
			"count", intNode(uint64(c.Queue.Count)),
			"fail_open", boolNode(c.Queue.FailOpen),
			"max_len", intNode(uint64(c.Queue.MaxLen)),
		),
		"control_ports", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: ports},
		"hooks", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: hooks},
		"table", strNode(c.Table),
		"pinhole", mapNode(
			"timeout", durationNode(c.Pinhole.Timeout),
			"mark", hexNode(c.Pinhole.Mark),
		),
		"divert", mapNode(
			"resized_mark", hexNode(c.Divert.ResizedMark),
		),
		"policy", mapNode(
			"min_data_port", intNode(uint64(p.MinDataPort)),
			"bounce_check", boolNode(p.BounceCheck),
			"max_pinholes", signedNode(p.MaxPinholes),
			"max_client_pinholes", signedNode(p.MaxClientPinholes),
			"max_pinholes_total", signedNode(p.MaxTotalPinholes),
			"violation", strNode(p.Violation.String()),
			"max_line", signedNode(p.MaxLine),
			"hold_timeout", durationNode(p.HoldTimeout),
			"max_held_segments", signedNode(p.MaxHeldSegments),
			"max_held_bytes", signedNode(p.MaxHeldBytes),
			"midstream", boolNode(p.Midstream),
			"max_sessions", signedNode(p.MaxSessions),
			"session_idle", durationNode(p.SessionIdle),
			"closed_linger", durationNode(p.ClosedLinger),
		),
		"status", mapNode(
			"socket", strNode(c.Status.Socket),
		),
		"metrics", mapNode(
			"listen", strNode(c.Metrics.Listen),
			"pprof", boolNode(c.Metrics.Pprof),
		),
	)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		// Only scalars, flow lists and mappings built above: the
		// encoder has nothing to refuse.
		panic("config: rendering YAML: " + err.Error())
	}
	enc.Close()
	return buf.Bytes()
}

// levelName is the file's name for l.Level; levels outside the four
// named ones print as slog does (and do not parse back).
func levelName(l Log) string {
	for _, n := range levelNames {
		if n.level == l.Level {
			return n.name
		}
	}
	return l.Level.String()
}

func mapNode(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(kv); i += 2 {
		n.Content = append(n.Content, strNode(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func intNode(v uint64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v, 10)}
}

func hexNode(v uint32) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0x" + strconv.FormatUint(uint64(v), 16)}
}

func signedNode(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func durationNode(d time.Duration) *yaml.Node {
	return strNode(formatDuration(d))
}

// formatDuration is time.Duration.String without zero trailing units:
// "2h" rather than "2h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
