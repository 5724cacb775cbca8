package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// curl and lftp as clients. Both are told not to paper over a wrong
// announcement:
//   - curl ignores the address in a 227 by default since 7.74
//     (--ftp-skip-pasv-ip); --no-ftp-skip-pasv-ip makes it connect where the
//     227 says, so an unrewritten private address fails as it should.
//   - lftp "fixes" a private PASV address (ftp:fix-pasv-address) and falls
//     back from passive to active (ftp:auto-passive-mode); both are off.
//   - Both fall back from EPSV/EPRT to PASV/PORT when the server refuses the
//     extended command, so each run's trace is checked for the mode asked
//     for and for the absence of the fallback.
//
// wget and Python's ftplib (Debian's /usr/bin/python3) are passive-only
// clients for the server matrix (matrix_test.go):
//   - wget uses PASV over IPv4 (EPSV only over IPv6) and only downloads.
//   - ftplib also uses PASV over IPv4; trust_server_pasv_ipv4_address makes
//     it connect where the 227 says (by default it takes the control
//     connection's peer), and its EPSV mode here is ftplib's own parse229
//     (what it does over IPv6) chosen by a subclass.

// Tool names a command-line client.
type Tool string

const (
	Curl   Tool = "curl"
	Lftp   Tool = "lftp"
	Wget   Tool = "wget"
	Ftplib Tool = "ftplib" // Python's ftplib
	GoFTP  Tool = "go"
	GoLib  Tool = "jlaffaye" // github.com/jlaffaye/ftp, in-process
)

// ftplibScript is the Python ftplib client: host mode get|put remote local.
// Debug level 1 prints every command (*cmd*) and reply (*resp*).
const ftplibScript = `
import ftplib, sys
host, mode, op, remote, local = sys.argv[1:6]
class FTP(ftplib.FTP):
    trust_server_pasv_ipv4_address = True
    def makepasv(self):
        if mode == "EPSV":
            return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        return super().makepasv()
f = FTP()
f.set_debuglevel(1)
f.connect(host, 21, timeout=10)
f.login("anonymous", "e2e@example.com")
f.set_pasv(True)
if op == "put":
    with open(local, "rb") as fh:
        f.storbinary("STOR " + remote, fh)
else:
    with open(local, "wb") as fh:
        f.retrbinary("RETR " + remote, fh.write)
f.quit()
`

var cliSeq atomic.Int32

// cliTransfer runs one transfer with curl or lftp from ns against server
// (the address the client dials). For a download it compares the result
// with want; for an upload it sends data to remote.
func cliTransfer(t *testing.T, tool Tool, ns *Netns, server netip.Addr, mode Mode, upload bool, remote string, data []byte) error {
	t.Helper()
	_, err := cliTransferOut(t, tool, ns, server, mode, upload, remote, data)
	return err
}

// cliTransferOut is cliTransfer that also returns the client's trace.
func cliTransferOut(t *testing.T, tool Tool, ns *Netns, server netip.Addr, mode Mode, upload bool, remote string, data []byte) (string, error) {
	t.Helper()
	switch tool {
	case Ftplib:
		needLab(t, pyPath)
	default:
		needLab(t, string(tool))
	}
	lab := ns.lab
	n := cliSeq.Add(1)
	local := lab.Path(fmt.Sprintf("%s-%d.bin", tool, n))
	if upload {
		if err := os.WriteFile(local, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := server.String()
	if server.Is6() {
		host = "[" + host + "]"
	}
	var args []string
	switch tool {
	case Curl:
		args = []string{"curl", "-sS", "-v", "--connect-timeout", "3", "--max-time", "30", "--no-ftp-skip-pasv-ip"}
		switch mode {
		case PASV:
			args = append(args, "--ftp-pasv", "--disable-epsv")
		case EPSV:
			args = append(args, "--ftp-pasv")
		case PORT:
			args = append(args, "--ftp-port", "-", "--disable-eprt")
		case EPRT:
			args = append(args, "--ftp-port", "-")
		}
		url := "ftp://" + host + remote
		if upload {
			args = append(args, "-T", local, url)
		} else {
			args = append(args, "-o", local, url)
		}
	case Lftp:
		set := []string{
			"set cmd:fail-exit yes",
			"set ftp:ssl-allow no",
			"set net:max-retries 1",
			"set net:timeout 5",
			"set net:reconnect-interval-base 1",
			"set ftp:fix-pasv-address no",
			"set ftp:ignore-pasv-address no",
			"set ftp:auto-passive-mode no",
			"set ftp:passive-mode " + map[bool]string{true: "off", false: "on"}[mode.Active()],
			"set ftp:prefer-epsv " + map[bool]string{true: "yes", false: "no"}[mode == EPSV],
			"set xfer:clobber yes",
			"open -u anonymous,e2e@example.com ftp://" + host,
		}
		if upload {
			set = append(set, "put "+local+" -o "+remote)
		} else {
			set = append(set, "get "+remote+" -o "+local)
		}
		args = []string{"lftp", "-d", "-c", strings.Join(set, "; ")}
	case Wget:
		if upload || mode != PASV {
			t.Fatalf("wget: only PASV downloads over IPv4, not %s upload=%v", mode, upload)
		}
		args = []string{"wget", "-d", "--tries=1", "--timeout=5", "--no-proxy", "-O", local, "ftp://" + host + remote}
	case Ftplib:
		if mode != PASV && mode != EPSV {
			t.Fatalf("ftplib: passive modes only, not %s", mode)
		}
		script := lab.Path("ftplib-client.py")
		if err := os.WriteFile(script, []byte(ftplibScript), 0o644); err != nil {
			t.Fatal(err)
		}
		op := map[bool]string{true: "put", false: "get"}[upload]
		args = []string{pyPath, script, server.String(), string(mode), op, remote, local}
	default:
		t.Fatalf("unknown tool %q", tool)
	}
	start := time.Now()
	out, err := ns.RunTimeout(45*time.Second, nil, args...)
	trace := fmt.Sprintf("$ %s\n%s", strings.Join(args, " "), out)
	lab.AddDiag(fmt.Sprintf("%s #%d %s %s %s", tool, n, mode, map[bool]string{true: "upload", false: "download"}[upload], remote), func() string { return trace })
	if ann := announcements(out); len(ann) > 0 {
		t.Logf("%s %s %s: the client received %s", tool, mode, map[bool]string{true: "upload", false: "download"}[upload], strings.Join(quoteAll(ann), ", "))
	}
	if err != nil {
		return out, fmt.Errorf("%s %s %s failed after %v: %v\n%s", tool, mode, remote, time.Since(start).Round(time.Millisecond), err, tail(trace, 40))
	}
	if err := checkTraceMode(tool, mode, out); err != nil {
		return out, fmt.Errorf("%s: %v\n%s", tool, err, tail(trace, 40))
	}
	if mode == PASV {
		if err := checkTrace227(out, server); err != nil {
			return out, fmt.Errorf("%s: %v\n%s", tool, err, tail(trace, 40))
		}
	}
	if !upload {
		got, err := os.ReadFile(local)
		if err != nil {
			return out, err
		}
		if !bytes.Equal(got, data) {
			return out, fmt.Errorf("%s %s download %s: got %d bytes (sha256 %s), want %d bytes (sha256 %s)",
				tool, mode, remote, len(got), digest(got), len(data), digest(data))
		}
	}
	_ = os.Remove(local)
	return out, nil
}

// announceRe finds the 227 and 229 replies in a client's trace, whatever
// the client prefixes them with (curl "< ", lftp "<--- ", ftplib
// "*resp* '", wget and the jlaffaye transcript nothing).
var announceRe = regexp.MustCompile(`(?m)^(?:< |.*<--- |\*resp\* ')?(22[79] [^\r\n]*?)'?\r?$`)

// announcements returns the 227/229 reply lines a client received.
func announcements(out string) []string {
	var lines []string
	for _, m := range announceRe.FindAllStringSubmatch(out, -1) {
		lines = append(lines, m[1])
	}
	return lines
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// checkTraceMode makes sure the client used the mode asked for and did not
// fall back to another one.
func checkTraceMode(tool Tool, mode Mode, out string) error {
	sent := func(cmd string) bool {
		var re *regexp.Regexp
		switch tool {
		case Curl:
			re = regexp.MustCompile(`(?m)^> ` + cmd + `\b`)
		case Wget:
			re = regexp.MustCompile(`(?m)^--> ` + cmd + `\b`)
		case Ftplib:
			re = regexp.MustCompile(`\*cmd\* '` + cmd + `\b`)
		case GoLib: // the raw control stream
			re = regexp.MustCompile(`(?m)^` + cmd + `\r?$`)
		default:
			re = regexp.MustCompile(`(?m)---> ` + cmd + `\b`)
		}
		return re.MatchString(out)
	}
	others := map[Mode][]Mode{PASV: {EPSV, PORT, EPRT}, EPSV: {PASV, PORT, EPRT}, PORT: {EPRT, PASV, EPSV}, EPRT: {PORT, PASV, EPSV}}
	if !sent(string(mode)) {
		return fmt.Errorf("trace shows no %s command", mode)
	}
	for _, o := range others[mode] {
		if sent(string(o)) {
			return fmt.Errorf("asked for %s, but the client also sent %s (fallback?)", mode, o)
		}
	}
	return nil
}

// checkTrace227 requires every 227 the client received to announce the
// address it dialled: the lab routes private addresses too, so a client
// could otherwise reach an unrewritten private address.
func checkTrace227(out string, want netip.Addr) error {
	n := 0
	for _, line := range announcements(out) {
		text, ok := strings.CutPrefix(line, "227 ")
		if !ok {
			continue
		}
		n++
		ap, err := parse227(text)
		if err != nil {
			return err
		}
		if ap.Addr() != want {
			return fmt.Errorf("227 announced %v, want %v (the address the client dialled): %q", ap.Addr(), want, text)
		}
	}
	if n == 0 {
		return fmt.Errorf("no 227 reply in the trace")
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// ---- a transfer plan shared by the cases ----

// xfer is one transfer in a case's plan.
type xfer struct {
	Tool   Tool
	Mode   Mode
	Upload bool
	Big    bool
}

func (x xfer) String() string {
	dir := "get"
	if x.Upload {
		dir = "put"
	}
	size := "small"
	if x.Big {
		size = "big"
	}
	return fmt.Sprintf("%s-%s-%s-%s", x.Tool, x.Mode, dir, size)
}

// run performs the transfer from the client namespace against srv (dialled
// at addr) and checks the bytes.
func (x xfer) run(t *testing.T, client *Netns, local netip.Addr, addr netip.Addr, srv *FTPServer) {
	t.Helper()
	small, big := testFiles()
	data, remote := small, smallPath
	if x.Big {
		data, remote = big, bigPath
	}
	if x.Upload {
		remote = fmt.Sprintf("/upload/%s-%d.bin", x, cliSeq.Add(1))
	}
	switch x.Tool {
	case Curl, Lftp, Wget, Ftplib:
		if err := cliTransfer(t, x.Tool, client, addr, x.Mode, x.Upload, remote, data); err != nil {
			t.Fatal(err)
		}
	case GoLib:
		if err := golibTransfer(t, client, local, addr, x.Mode, x.Upload, remote, data); err != nil {
			t.Fatal(err)
		}
	case GoFTP:
		c := dialGo(t, client, local, netip.AddrPortFrom(addr, 21))
		if x.Upload {
			if err := c.Stor(x.Mode, remote, data); err != nil {
				t.Fatalf("go client: %v", err)
			}
		} else {
			got, err := c.Retr(x.Mode, remote)
			if err != nil {
				t.Fatalf("go client: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("go client %s download: got %d bytes (sha256 %s), want %d (sha256 %s)",
					x.Mode, len(got), digest(got), len(data), digest(data))
			}
		}
		if err := c.Quit(); err != nil {
			t.Fatalf("go client: %v", err)
		}
	}
	if x.Upload {
		srv.CheckUpload(t, remote, data)
	}
}

// dialGo opens a Go client session and registers its transcript.
func dialGo(t testing.TB, ns *Netns, local netip.Addr, server netip.AddrPort) *FTPClient {
	t.Helper()
	c, err := DialFTP(ns, local, server)
	if err != nil {
		t.Fatalf("go client: %v", err)
	}
	n := cliSeq.Add(1)
	ns.lab.AddDiag(fmt.Sprintf("go client #%d transcript", n), c.Transcript)
	t.Cleanup(func() { c.Close() })
	return c
}
