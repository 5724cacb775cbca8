package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// curl and lftp speaking FTPS (explicit TLS, AUTH TLS on port 21). One run
// is one control session with one or more transfers. lftp can stop in the
// middle of its session and wait for the test (Hold), so that the test can
// look at the gateway while the TLS session lasts.

// tlsUse is how a client uses TLS.
type tlsUse int

const (
	tlsNone  tlsUse = iota // plain FTP
	tlsTry                 // AUTH TLS, plain FTP if the server refuses it
	tlsForce               // AUTH TLS or fail
)

func (u tlsUse) String() string { return [...]string{"plain", "tls-try", "tls-force"}[u] }

// ftpsStep is one transfer of a session.
type ftpsStep struct {
	Upload bool
	Remote string // path on the server
	Data   []byte // what to upload, or what the download must return
}

// ftpsRun is one client session.
type ftpsRun struct {
	Tool Tool
	TLS  tlsUse
	CCC  bool // clear the control channel after login (CCC)
	// CCCPassive (curl only) leaves the TLS shutdown to the server, and
	// curl then sends no close_notify of its own (curl's default CCC
	// mode); otherwise curl starts the shutdown (--ftp-ssl-ccc-mode
	// active). lftp always sends its close_notify.
	CCCPassive bool
	TLS12      bool // the client offers nothing above TLS 1.2
	Mode       Mode // PASV or EPSV
	Steps      []ftpsStep
	// Hold (lftp only, 1-based): before step Hold, lftp creates the
	// ready file and waits until the test calls Release.
	Hold int
	// ConnectTimeout (curl only) bounds the TCP connect and the server's
	// greeting, in seconds (default 3). proftpd under load was once seen
	// to greet after 3 s.
	ConnectTimeout int
}

// ftpsSession is a started run.
type ftpsSession struct {
	run      ftpsRun
	ns       *Netns
	args     []string
	locals   []string
	ready    string
	release  string
	done     chan struct{}
	out      []byte
	err      error
	started  time.Time
	duration time.Duration
}

// download and upload build steps with the shared test files.
func download(remote string) ftpsStep {
	small, big := testFiles()
	data := small
	if remote == bigPath {
		data = big
	}
	return ftpsStep{Remote: remote, Data: data}
}

func upload(name string, big bool) ftpsStep {
	small, bigData := testFiles()
	data := small
	if big {
		data = bigData
	}
	return ftpsStep{Upload: true, Remote: fmt.Sprintf("/upload/%s-%d.bin", name, cliSeq.Add(1)), Data: data}
}

// start launches the client in ns against the server address dial.
func (r ftpsRun) start(t testing.TB, ns *Netns, dial netip.Addr) *ftpsSession {
	t.Helper()
	needLab(t, string(r.Tool))
	lab := ns.lab
	n := cliSeq.Add(1)
	s := &ftpsSession{run: r, ns: ns, done: make(chan struct{})}
	for i, st := range r.Steps {
		local := lab.Path(fmt.Sprintf("ftps-%s-%d-%d.bin", r.Tool, n, i))
		if st.Upload {
			if err := os.WriteFile(local, st.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s.locals = append(s.locals, local)
	}
	host := dial.String()
	switch r.Tool {
	case Curl:
		s.args = r.curlArgs(host, s.locals)
	case Lftp:
		if r.Hold > 0 {
			s.ready = lab.Path(fmt.Sprintf("ftps-%d.ready", n))
			s.release = lab.Path(fmt.Sprintf("ftps-%d.go", n))
		}
		s.args = r.lftpArgs(host, s.locals, s.ready, s.release)
		if r.Hold > 0 {
			script := fmt.Sprintf("touch %s\nwhile [ ! -e %s ]; do sleep 0.05; done\n", s.ready, s.release)
			if err := os.WriteFile(s.ready+".sh", []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("ftps: unknown tool %q", r.Tool)
	}
	if r.Hold > 0 && r.Tool != Lftp {
		t.Fatalf("ftps: Hold needs lftp")
	}
	lab.AddDiag(fmt.Sprintf("%s #%d (%s, ccc=%v)", r.Tool, n, r.TLS, r.CCC), func() string {
		select {
		case <-s.done:
			return fmt.Sprintf("$ %s\n(exit: %v after %v)\n%s", strings.Join(s.args, " "), s.err, s.duration, s.out)
		default:
			return "(still running)"
		}
	})
	s.started = time.Now()
	go func() {
		defer close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, s.args...)...)
		cmd.WaitDelay = time.Second
		s.out, s.err = cmd.CombinedOutput()
		if ctx.Err() != nil {
			s.err = fmt.Errorf("%v (timed out after 60s)", s.err)
		}
		s.duration = time.Since(s.started)
	}()
	t.Cleanup(func() {
		if s.release != "" {
			os.WriteFile(s.release, nil, 0o644)
		}
		<-s.done
	})
	return s
}

// curlArgs: one curl invocation, one --next group per step; curl keeps
// the control connection between the groups.
func (r ftpsRun) curlArgs(host string, locals []string) []string {
	// curl 7.88 races the TLS 1.3 shutdown of an upload's data
	// connection against the server's final reply, and vsftpd answers 426
	// with the file cut short (curl issue 13556, fixed after 8.8): a run
	// with uploads stays at TLS 1.2. All groups share one TLS setting, or
	// curl would not reuse the control connection.
	uploads := false
	for _, st := range r.Steps {
		uploads = uploads || st.Upload
	}
	args := []string{"curl"}
	for i, st := range r.Steps {
		if i > 0 {
			args = append(args, "--next")
		}
		ct := r.ConnectTimeout
		if ct == 0 {
			ct = 3
		}
		args = append(args, "-sS", "-v", "--connect-timeout", strconv.Itoa(ct), "--max-time", "30", "--no-ftp-skip-pasv-ip")
		switch r.TLS {
		case tlsTry:
			args = append(args, "--ssl", "-k")
		case tlsForce:
			args = append(args, "--ssl-reqd", "-k")
		}
		if r.CCC {
			mode := "active"
			if r.CCCPassive {
				mode = "passive"
			}
			args = append(args, "--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", mode)
		}
		if r.TLS12 || uploads {
			args = append(args, "--tls-max", "1.2")
		}
		args = append(args, "--ftp-pasv")
		if r.Mode == PASV {
			args = append(args, "--disable-epsv")
		}
		url := "ftp://" + host + st.Remote
		if st.Upload {
			args = append(args, "-T", locals[i], url)
		} else {
			args = append(args, "-o", locals[i], url)
		}
	}
	return args
}

func (r ftpsRun) lftpArgs(host string, locals []string, ready, release string) []string {
	set := []string{
		"set cmd:fail-exit yes",
		"set net:max-retries 1",
		"set net:timeout 5",
		"set net:reconnect-interval-base 1",
		"set ftp:fix-pasv-address no",
		"set ftp:ignore-pasv-address no",
		"set ftp:auto-passive-mode no",
		"set ftp:passive-mode on",
		"set ftp:prefer-epsv " + map[bool]string{true: "yes", false: "no"}[r.Mode == EPSV],
		"set xfer:clobber yes",
		"set ssl:verify-certificate no",
		"set ftp:ssl-allow-anonymous yes",
		"set ftp:ssl-allow " + map[bool]string{true: "yes", false: "no"}[r.TLS != tlsNone],
		"set ftp:ssl-force " + map[bool]string{true: "yes", false: "no"}[r.TLS == tlsForce],
		"set ftp:ssl-use-ccc " + map[bool]string{true: "yes", false: "no"}[r.CCC],
	}
	if r.TLS12 {
		set = append(set, `set ssl:priority "NORMAL:-VERS-TLS-ALL:+VERS-TLS1.2"`)
	}
	set = append(set, "open -u anonymous,e2e@example.com ftp://"+host)
	for i, st := range r.Steps {
		if r.Hold == i+1 {
			// lftp splits its command line at ";": the wait is a script.
			set = append(set, "!sh "+ready+".sh")
		}
		if st.Upload {
			set = append(set, "put "+locals[i]+" -o "+st.Remote)
		} else {
			set = append(set, "get "+st.Remote+" -o "+locals[i])
		}
	}
	// One command a line: "!" takes the rest of its line.
	return []string{"lftp", "-d", "-c", strings.Join(set, "\n")}
}

// WaitHeld waits until lftp has reached its Hold point.
func (s *ftpsSession) WaitHeld(t testing.TB, within time.Duration) {
	t.Helper()
	ok := eventually(within, func() bool {
		select {
		case <-s.done:
			return true
		default:
		}
		_, err := os.Stat(s.ready)
		return err == nil
	})
	select {
	case <-s.done:
		t.Fatalf("%s ended before its hold point: %v\n%s", s.run.Tool, s.err, tail(string(s.out), 40))
	default:
	}
	if !ok {
		t.Fatalf("%s did not reach its hold point within %v", s.run.Tool, within)
	}
}

// Release lets a held lftp go on.
func (s *ftpsSession) Release(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(s.release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Wait waits for the client to end and returns its trace and error.
func (s *ftpsSession) Wait() (string, time.Duration, error) {
	<-s.done
	trace := fmt.Sprintf("$ %s\n%s", strings.Join(s.args, " "), s.out)
	if s.err != nil {
		return trace, s.duration, fmt.Errorf("%s (%s) failed after %v: %v", s.run.Tool, s.run.TLS, s.duration.Round(time.Millisecond), s.err)
	}
	// With --next, curl's exit status is the last group's only.
	if m := regexp.MustCompile(`(?m)^curl: \(\d+\).*$`).FindString(string(s.out)); m != "" {
		return trace, s.duration, fmt.Errorf("%s (%s): a transfer of the session failed: %s", s.run.Tool, s.run.TLS, m)
	}
	return trace, s.duration, nil
}

// Check requires a successful run: every download byte-exact, every
// upload on the server byte-exact.
func (s *ftpsSession) Check(t testing.TB, srv *FTPServer) string {
	t.Helper()
	trace, _, err := s.Wait()
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(trace, 60))
	}
	for i, st := range s.run.Steps {
		if st.Upload {
			srv.CheckUpload(t, st.Remote, st.Data)
			continue
		}
		got, err := os.ReadFile(s.locals[i])
		if err != nil {
			t.Fatalf("%s download %s: %v\n%s", s.run.Tool, st.Remote, err, tail(trace, 40))
		}
		if !bytes.Equal(got, st.Data) {
			t.Fatalf("%s download %s: got %d bytes (sha256 %s), want %d bytes (sha256 %s)",
				s.run.Tool, st.Remote, len(got), digest(got), len(st.Data), digest(st.Data))
		}
	}
	for _, l := range s.locals {
		os.Remove(filepath.Clean(l))
	}
	return trace
}

// run starts the client and requires success.
func (r ftpsRun) run(t testing.TB, ns *Netns, dial netip.Addr, srv *FTPServer) string {
	t.Helper()
	return r.start(t, ns, dial).Check(t, srv)
}

// ---- reading the clients' traces ----

// traceReplies returns the reply lines (code and text) a client printed,
// in order: curl -v "< 234 ...", lftp -d "<--- 234 ...".
func traceReplies(trace string) []string {
	re := regexp.MustCompile(`(?m)^(?:< |.*<--- )(\d{3}[ -].*?)\r?$`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(trace, -1) {
		out = append(out, m[1])
	}
	return out
}

// traceCommands returns the commands a client sent: curl "> AUTH TLS",
// lftp "---> AUTH TLS".
func traceCommands(trace string) []string {
	re := regexp.MustCompile(`(?m)^(?:> |.*---> )([A-Z]{3,4}\b.*?)\r?$`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(trace, -1) {
		out = append(out, m[1])
	}
	return out
}

// replyTo returns the first reply after the first command starting with
// cmd ("" if none).
func replyTo(trace, cmd string) string {
	// Both clients print a command before its reply; walk the trace in
	// order.
	re := regexp.MustCompile(`(?m)^(?:(?:> |.*---> )([A-Z]{3,4}\b.*?)|(?:< |.*<--- )(\d{3}[ -].*?))\r?$`)
	seen := false
	for _, m := range re.FindAllStringSubmatch(trace, -1) {
		switch {
		case m[1] != "" && strings.HasPrefix(m[1], cmd):
			seen = true
		case m[2] != "" && seen:
			return m[2]
		}
	}
	return ""
}

// tlsVersion returns the TLS version curl or lftp reports ("" if none).
func tlsVersion(trace string) string {
	if m := regexp.MustCompile(`SSL connection using (TLSv[0-9.]+)`).FindStringSubmatch(trace); m != nil {
		return m[1]
	}
	if m := regexp.MustCompile(`\((TLS[0-9.]+)\)`).FindStringSubmatch(trace); m != nil {
		return m[1]
	}
	return ""
}
