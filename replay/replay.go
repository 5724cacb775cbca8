package replay

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/rewrite"
	"github.com/ftpalg/ftpalg/rules"
)

// Options configure a replay.
type Options struct {
	ControlPorts []uint16         // default 21
	Policy       conntrack.Policy // zero value: conntrack.DefaultPolicy()
}

// Record is one line of "ftpalg replay" output: a decision about a control
// line, a pinhole closing, or a data connection seen in the capture.
type Record struct {
	Time      time.Time          `json:"time"`
	Frame     int                `json:"frame,omitempty"`
	Session   uint64             `json:"session,omitempty"`
	Client    string             `json:"client,omitempty"`
	Server    string             `json:"server,omitempty"`
	Dir       string             `json:"dir,omitempty"`
	Line      string             `json:"line,omitempty"`
	Decision  string             `json:"decision"`
	Pinhole   *conntrack.Pinhole `json:"pinhole,omitempty"`
	Mapping   *conntrack.Mapping `json:"mapping,omitempty"`
	Rewrite   string             `json:"rewrite,omitempty"`
	Reason    string             `json:"reason,omitempty"`
	Detail    string             `json:"detail,omitempty"`
	ID        uint64             `json:"pinhole_id,omitempty"`
	Data      string             `json:"data,omitempty"` // data connection: src -> dst
	Announced string             `json:"announced,omitempty"`
}

// Conn is one data connection seen in a capture (its first SYN).
type Conn struct {
	Frame int
	Time  time.Time
	Src   netip.AddrPort
	Dst   netip.AddrPort
}

func (c Conn) String() string {
	return fmt.Sprintf("frame %d %s -> %s", c.Frame, c.Src, c.Dst)
}

// Report summarises one capture.
type Report struct {
	Sessions      int // control sessions the inspector followed
	Announcements int // PORT/EPRT/227/229 lines decided on (opened, rewritten or refused)
	Refused       int
	Predicted     int // pinholes opened
	Withdrawn     int // pinholes the server's reply withdrew (5xx to PORT/EPRT)
	Observed      int // data connections between the hosts of a control session, after it started
	Matched       int // observed data connections a pinhole admitted
	// RefusedConns are observed connections to a port whose announcement
	// ftpalg refused: the captured server still connected because it
	// never saw the refusal; with ftpalg in the path they are blocked.
	RefusedConns []Conn
	Missed       []Conn        // observed connections no announcement explains
	Extra        []rules.Entry // pinholes never used (and not withdrawn)
	// Unseen are the extra pinholes whose endpoint never appears in the
	// capture: the capture does not show their data connection at all.
	Unseen int
	Stats  conntrack.Stats
}

// Run feeds frames through a Tracker and an in-memory pinhole table. It
// calls emit (if not nil) for each record, in capture order.
func Run(frames []Frame, opts Options, emit func(Record)) (Report, error) {
	pol := opts.Policy
	if pol == (conntrack.Policy{}) {
		pol = conntrack.DefaultPolicy()
	}
	ctl := opts.ControlPorts
	if len(ctl) == 0 {
		ctl = []uint16{21}
	}
	tr, err := conntrack.NewTracker(conntrack.Config{Policy: pol, ControlPorts: ctl, DryRun: true, CaptureChecksums: true})
	if err != nil {
		return Report{}, err
	}
	r := &runner{tr: tr, table: rules.NewMemory(), emit: emit, ctl: ctl, hosts: map[[2]netip.Addr]bool{}, unused: map[uint64]rules.Entry{},
		refused: map[[2]netip.AddrPort]bool{}, endpoints: map[netip.AddrPort]bool{}}
	var res conntrack.Result
	var last time.Time
	for _, f := range frames {
		if !last.IsZero() && f.Time.Sub(last) >= 50*time.Millisecond {
			r.tick(f.Time, &res)
		}
		if f.Time.After(last) {
			last = f.Time
		}
		r.frame(f, &res)
	}
	r.tick(last.Add(time.Hour), &res) // let every pinhole run out
	r.rep.Stats = tr.Stats
	r.rep.Sessions = int(tr.Stats.SessionsStarted)
	for _, c := range r.conns {
		if !c.known {
			continue
		}
		r.rep.Observed++
		switch {
		case c.matched:
		case r.refused[refusedKey(c.Src.Addr(), c.Dst)] || r.refused[refusedKey(c.Dst.Addr(), c.Dst)]:
			r.rep.RefusedConns = append(r.rep.RefusedConns, c.Conn)
		default:
			r.rep.Missed = append(r.rep.Missed, c.Conn)
		}
	}
	for _, e := range r.unused {
		r.rep.Extra = append(r.rep.Extra, e)
		if !r.endpoints[e.Pinhole.Dst] {
			r.rep.Unseen++
		}
	}
	sort.Slice(r.rep.Extra, func(i, j int) bool { return r.rep.Extra[i].ID < r.rep.Extra[j].ID })
	return r.rep, nil
}

type seenConn struct {
	Conn
	matched bool
	known   bool // a control session between the two hosts was seen before it
}

// refusedKey names a refused announcement by the host pair that could use
// it and the port: a refused PORT from client C names port p that the
// server would connect to on C (or on the third host it named).
func refusedKey(a netip.Addr, dst netip.AddrPort) [2]netip.AddrPort {
	return [2]netip.AddrPort{netip.AddrPortFrom(a, 0), netip.AddrPortFrom(netip.Addr{}, dst.Port())}
}

type runner struct {
	tr     *conntrack.Tracker
	table  *rules.Memory
	trans  rules.Translator // effects to table changes, as the daemon does
	emit   func(Record)
	ctl    []uint16
	rep    Report
	hosts  map[[2]netip.Addr]bool // address pairs of control sessions, both orders
	conns  []seenConn
	seen   map[[2]netip.AddrPort]bool
	unused map[uint64]rules.Entry // opened, not used yet
	// refused: announcements refused, by the client's (PORT) or server's
	// (227/229) address and the announced port.
	refused   map[[2]netip.AddrPort]bool
	endpoints map[netip.AddrPort]bool // every endpoint of non-control TCP packets
	frameN    int
	pkt       rewrite.Packet
}

func (r *runner) isControl(p uint16) bool {
	for _, c := range r.ctl {
		if c == p {
			return true
		}
	}
	return false
}

func (r *runner) frame(f Frame, res *conntrack.Result) {
	r.frameN = f.Index
	p := &r.pkt
	if rewrite.Decode(f.Data, p) != nil {
		r.tr.Process(f.Data, uint64(f.Index), f.Time, res) // counted as undecodable
		return
	}
	if !r.isControl(p.SrcPort) && !r.isControl(p.DstPort) {
		r.dataPacket(f, p)
		return
	}
	r.hosts[[2]netip.Addr{p.Src, p.Dst}] = true
	r.hosts[[2]netip.Addr{p.Dst, p.Src}] = true
	r.tr.Process(f.Data, uint64(f.Index), f.Time, res)
	r.apply(f.Time, res)
}

// dataPacket records the first SYN of each connection and asks the table
// whether a pinhole admits it.
func (r *runner) dataPacket(f Frame, p *rewrite.Packet) {
	r.endpoints[netip.AddrPortFrom(p.Src, p.SrcPort)] = true
	r.endpoints[netip.AddrPortFrom(p.Dst, p.DstPort)] = true
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	if r.seen == nil {
		r.seen = map[[2]netip.AddrPort]bool{}
	}
	if r.seen[[2]netip.AddrPort{src, dst}] || r.seen[[2]netip.AddrPort{dst, src}] {
		return // the connection's first packet decided
	}
	if p.Flags&rewrite.FlagRST != 0 {
		return
	}
	r.seen[[2]netip.AddrPort{src, dst}] = true
	// The first packet of a connection is its SYN when the capture has
	// it; captures that start late or were filtered show a later packet,
	// from either side, so both orientations are tried then.
	orient := [][2]netip.AddrPort{{src, dst}}
	if p.Flags&(rewrite.FlagSYN|rewrite.FlagACK) != rewrite.FlagSYN {
		orient = append(orient, [2]netip.AddrPort{dst, src})
	}
	for _, o := range orient {
		if !r.hosts[[2]netip.Addr{o[0].Addr(), o[1].Addr()}] {
			continue
		}
		c := seenConn{Conn: Conn{Frame: f.Index, Time: f.Time, Src: o[0], Dst: o[1]}, known: true}
		to := r.table.Translate(o[0].Addr(), o[1], f.Time)
		if e, ok := r.table.Admit(o[0].Addr(), to, f.Time); ok {
			r.used(f, c, e, "used")
			return
		}
		if len(orient) > 1 {
			// Mid-connection: it began before the capture showed it, so a
			// pinhole closed since (its transfer ended) may have admitted it.
			if e, ok := r.closedMatch(o[0].Addr(), o[1]); ok {
				r.used(f, c, e, "used-before-capture")
				return
			}
		}
		if o == orient[len(orient)-1] || c.Src.Port() == 20 {
			r.record(Record{Time: f.Time, Frame: f.Index, Decision: "no-pinhole", Data: o[0].String() + " -> " + o[1].String()})
			r.conns = append(r.conns, c)
			return
		}
	}
}

// used records that pinhole e admitted data connection c, and tells the
// Tracker so, as the daemon does when the kernel consumes a pinhole.
func (r *runner) used(f Frame, c seenConn, e rules.Entry, decision string) {
	c.matched = true
	r.rep.Matched++
	delete(r.unused, e.ID)
	r.conns = append(r.conns, c)
	r.record(Record{Time: f.Time, Frame: f.Index, Session: e.Session, Decision: decision, ID: e.ID, Pinhole: &e.Pinhole, Data: c.Src.String() + " -> " + c.Dst.String()})
	var res conntrack.Result
	r.tr.PinholeUsed(e.ID, &res)
	r.apply(f.Time, &res)
}

// closedMatch finds an unused pinhole, open or closed, for src -> dst.
func (r *runner) closedMatch(src netip.Addr, dst netip.AddrPort) (rules.Entry, bool) {
	for _, e := range r.unused {
		if e.Pinhole.Src == src && e.Pinhole.Dst == dst {
			return e, true
		}
	}
	return rules.Entry{}, false
}

func (r *runner) tick(now time.Time, res *conntrack.Result) {
	r.tr.Tick(now, res)
	r.apply(now, res)
	for _, e := range r.table.Expire(now) {
		r.record(Record{Time: now, Session: e.Session, Decision: "expire", ID: e.ID, Pinhole: &e.Pinhole})
	}
}

// apply carries the effects out on the table and emits the records.
func (r *runner) apply(now time.Time, res *conntrack.Result) {
	for i := range res.Events {
		ev := &res.Events[i]
		rec := Record{Time: ev.Time, Frame: r.frameN, Session: ev.Session, Client: ev.Flow.Client.String(), Server: ev.Flow.Server.String(),
			Dir: ev.Dir.String(), Line: ev.Line, Decision: ev.Decision, Rewrite: ev.Rewrite,
			Reason: ev.Reason.String(), Detail: ev.Detail}
		if isAnnouncement(ev) {
			r.rep.Announcements++
			if ev.Decision == "refuse" {
				r.rep.Refused++
				if ev.Announced.IsValid() {
					own := ev.Flow.Client.Addr()
					if ev.Dir == conntrack.FromServer {
						own = ev.Flow.Server.Addr()
					}
					r.refused[refusedKey(own, ev.Announced)] = true
				}
			}
		}
		if ev.Announced.IsValid() {
			rec.Announced = ev.Announced.String()
		}
		if ev.Pinhole.Src.IsValid() {
			ph := ev.Pinhole
			rec.Pinhole = &ph
		}
		if ev.Mapping.Src.IsValid() {
			m := ev.Mapping
			rec.Mapping = &m
		}
		r.record(rec)
	}
	if err := r.table.At(now).Apply(r.trans.Translate(res.Effects)); err != nil {
		r.record(Record{Time: now, Decision: "error", Detail: err.Error()})
	}
	for _, e := range res.Effects {
		switch e.Kind {
		case conntrack.EffOpenPinhole:
			r.rep.Predicted++
			r.unused[e.ID] = rules.Entry{ID: e.ID, Session: e.Session, Pinhole: e.Pinhole, Opened: now, Expires: now.Add(e.Timeout)}
		case conntrack.EffClosePinhole:
			if _, open := r.unused[e.ID]; open && e.Reason == conntrack.ReasonWithdrawn {
				r.rep.Withdrawn++
				delete(r.unused, e.ID)
			}
			if e.Reason != conntrack.ReasonUsed {
				ph := e.Pinhole
				r.record(Record{Time: now, Session: e.Session, Decision: "close", ID: e.ID, Pinhole: &ph, Reason: e.Reason.String()})
			}
		}
	}
}

func isAnnouncement(ev *conntrack.Event) bool {
	switch ev.Decision {
	case "open", "rewrite":
		return true
	case "refuse":
		l := strings.ToUpper(ev.Line)
		return strings.HasPrefix(l, "PORT") || strings.HasPrefix(l, "EPRT") || strings.HasPrefix(l, "227") || strings.HasPrefix(l, "229")
	}
	return false
}

func (r *runner) record(rec Record) {
	if r.emit != nil {
		r.emit(rec)
	}
}

// Table writes a one-line summary of a report.
func (rep Report) Table(w io.Writer, name string) {
	fmt.Fprintf(w, "%-62s %5d %5d %5d %5d %5d %5d %5d %5d %5d %5d %5d\n", name, rep.Sessions, rep.Announcements, rep.Refused, rep.Predicted, rep.Withdrawn, rep.Observed, rep.Matched, len(rep.RefusedConns), len(rep.Missed), len(rep.Extra), rep.Unseen)
}

// TableHeader writes the column names for Table.
func TableHeader(w io.Writer) {
	fmt.Fprintf(w, "%-62s %5s %5s %5s %5s %5s %5s %5s %5s %5s %5s %5s\n", "file", "sess", "annc", "rfsd", "pred", "wdrn", "obsv", "match", "blckd", "miss", "extra", "unseen")
}
