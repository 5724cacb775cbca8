package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir holds real FTP captures collected from other projects (see its
// SOURCES.md). It sits beside the repository in ../shared.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FTPALG_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus", "ftp-pcaps")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("capture corpus not found at %s (set FTPALG_CORPUS): %v", dir, err)
	}
	return dir
}

// exception explains data connections a capture shows that no announcement
// accounts for (missed), and pinholes whose data connection the capture does
// show traffic for but that were never used (extra). Pinholes whose
// endpoint never appears in the capture at all are explained by that fact
// (Report.Unseen) and need no entry here.
type exception struct {
	missed, extra int
	why           string
}

var exceptions = map[string]exception{
	"amerck__ftp-vsftpd-2.3.4-backdoor.pcap": {missed: 1,
		why: "the connection to tcp/6200 is the vsftpd 2.3.4 backdoor's bind shell, not an FTP data connection; nothing announced it, so ftpalg rightly opens nothing"},
	"markofu-hackeire__2011-c2__ftp-subset.pcap": {missed: 22,
		why: "the subset was filtered with 'tcp.port==21 || tcp.port==1026': the 22 connections to tcp/1026 are an attack on another service between the same hosts, not FTP data"},
	"PcapPlusPlus__Ftp.pcap": {missed: 1,
		why: "a collection of single packets from unrelated sessions: the data packet from port 20 belongs to a session whose PORT is not in the file"},
	"nDPI__fuzz-2006-06-26-2594.pcap": {missed: 2,
		why: "bit-mutated fuzz capture: the PASV session's addresses are corrupted (192.112.1.2 for 192.168.1.2), so the announcements that led to these connections are not intact in the file"},
	"samuelito1218__ftps2-authtls.pcap": {missed: 5,
		why: "AUTH TLS: the PASV/227 exchanges are encrypted, so no inspector can see them; the passthrough-range FTPS policy (a later issue) is the answer"},
	"zeek__globus-url-copy-gridftp.pcap": {missed: 1,
		why: "GridFTP with GSSAPI: every command and reply is wrapped in ENC/632, so the data port is never visible in clear text"},
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s: %v", dir, err)
	}
	var table bytes.Buffer
	TableHeader(&table)
	var total Report
	for _, path := range files {
		name := filepath.Base(path)
		ports := []uint16{21}
		switch {
		case strings.HasPrefix(name, "junkie__ftp-on-alt-port-2121"):
			ports = []uint16{2121}
		case strings.HasPrefix(name, "zeek__globus-url-copy"):
			ports = []uint16{2811}
		}
		frames, err := ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		rep, err := Run(frames, Options{ControlPorts: ports}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rep.Table(&table, name)
		total.Sessions += rep.Sessions
		total.Announcements += rep.Announcements
		total.Predicted += rep.Predicted
		total.Observed += rep.Observed
		total.Matched += rep.Matched
		ex := exceptions[name]
		if len(rep.Missed) != ex.missed {
			t.Errorf("%s: %d data connections no announcement explains, %d expected (%s): %v", name, len(rep.Missed), ex.missed, ex.why, rep.Missed)
		}
		if n := len(rep.Extra) - rep.Unseen; n != ex.extra {
			t.Errorf("%s: %d unused pinholes whose data connection the capture shows traffic for, %d expected (%s): %v", name, n, ex.extra, ex.why, rep.Extra)
		}
	}
	t.Logf("corpus: %d files, %d sessions, %d announcements, %d pinholes predicted, %d data connections observed, %d matched\n%s",
		len(files), total.Sessions, total.Announcements, total.Predicted, total.Observed, total.Matched, table.String())
}
