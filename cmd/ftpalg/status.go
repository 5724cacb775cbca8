package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/gateway"
)

// cmdStatus asks the running daemon over its status socket and prints
// the reply: a table for people, or the reply's JSON with -json.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "the daemon's config file, for status.socket (default: "+config.DefaultStatusSocket+")")
	asJSON := fs.Bool("json", false, "print the daemon's reply as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ftpalg status: unexpected arguments:", fs.Args())
		return 2
	}
	path := config.DefaultStatusSocket
	if *file != "" {
		cfg, err := config.Load(*file)
		if err != nil {
			fmt.Fprintln(stderr, "ftpalg status:", err)
			return 1
		}
		path = cfg.Status.Socket
	}
	r, err := gateway.AskStatus(path, 10*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "ftpalg status: %s: %v\n", path, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(stderr, "ftpalg status:", err)
			return 1
		}
		return 0
	}
	printStatus(stdout, r)
	return 0
}

// printStatus renders a reply as tables.
func printStatus(w io.Writer, r gateway.StatusReply) {
	t := r.Totals
	fmt.Fprintf(w, "ftpalg: table %s, %s, %s, %s at %s\n\n", r.Table, plural(t.Sessions, "session"), plural(t.Pinholes, "pinhole"),
		plural(t.Ranges, "passive range"), r.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Sessions) > 0 {
		fmt.Fprintln(tw, "SESSION\tQUEUE\tCLIENT\tSERVER\tCLIENT VIEW (orig)\tSERVER VIEW (reply)\tSTATE\tTLS\tREWRITES\tREFUSALS\tIDLE")
		for _, s := range r.Sessions {
			nat := ""
			if !s.NATKnown {
				nat = " (not looked up)"
			}
			state := strings.Join(s.State, ",")
			if state == "" {
				state = "-"
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s -> %s%s\t%s -> %s\t%s\t%s\t%d\t%d\t%s\n", s.ID, s.Queue, s.Client, s.Server,
				s.Orig.Src, s.Orig.Dst, nat, s.Reply.Src, s.Reply.Dst, state, s.TLS, s.Rewrites, s.Refusals, secs(s.IdleSeconds))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	var pins int
	for _, s := range r.Sessions {
		pins += len(s.Pinholes)
		if s.Range != nil {
			pins++
		}
	}
	if pins > 0 {
		fmt.Fprintln(tw, "SESSION\tPINHOLE\tFROM\tTO\tNAT\tLEFT\tIN USE")
		for _, s := range r.Sessions {
			for _, p := range s.Pinholes {
				nat := "-"
				if m := p.Mapping; m != nil {
					nat = "dnat " + m.Dst.String() + " -> " + m.ToDst.String()
					if m.ToSrc.IsValid() {
						nat += " snat " + m.ToSrc.String()
					}
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, p.ID, p.Src, p.Dst, nat, secs(p.RemainingSeconds), yesNo(p.Attached))
			}
			if g := s.Range; g != nil {
				nat := "-"
				if g.Range.Public.IsValid() {
					nat = "from " + g.Range.Public.String()
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s:%d-%d\t%s\t%s\t%s\n", s.ID, g.ID, g.Range.Src, g.Range.Dst, g.Range.Lo, g.Range.Hi, nat, "(session)", "-")
			}
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	fmt.Fprintln(tw, "QUEUE\tRECEIVED\tVERDICTS\tLOST\tOVERRUNS\tERRORS\tMODIFIED\tHELD\tDROPPED\tNOT TRACKED\tSESSIONS\tPINHOLES")
	for _, q := range r.Queues {
		if q.Error != "" {
			fmt.Fprintf(tw, "%d\t%s\n", q.Queue, q.Error)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", q.Queue, q.Received, q.Verdicts, q.Lost, q.Overruns,
			q.RecvErrors+q.VerdictErrors, q.Modified, q.Held, q.Dropped, q.NotTracked, q.Sessions, q.Pinholes)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintf(w, "totals: sessions %d started, %d ended; rewrites %d; refusals %d; pinholes %d opened, %d closed; resized %d\n",
		t.SessionsStarted, t.SessionsEnded, t.Rewrites, t.Refusals, t.PinholesOpened, t.PinholesClosed, t.Resized)
	fmt.Fprintf(w, "conntrack: %d events, %d overruns, %d errors, %d cached\n", r.Conntrack.Events, r.Conntrack.Overruns, r.Conntrack.Errors, r.Conntrack.Cached)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// secs renders seconds for people: 28.6s, 3m12s, 1h4m.
func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	}
	return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
}
