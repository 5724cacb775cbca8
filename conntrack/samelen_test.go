package conntrack

import (
	"github.com/ftpalg/ftpalg/conntrack/ftp"
	"strings"
	"testing"
)

// TestSameLength227: the free text absorbs the difference in every shape a
// server sends, the parentheses and trailing text stay, and nothing
// resizes; only when neither the free text nor the port can absorb it
// does the line change length.
func TestSameLength227(t *testing.T) {
	for _, tc := range []struct {
		line, field, want string
		ok                bool
	}{
		// vsftpd, proftpd, pure-ftpd, pyftpdlib (their 227 texts).
		{"227 Entering Passive Mode (10,0,0,2,117,48).", "203,0,113,1,117,48", "227 Entering Passive   (203,0,113,1,117,48).", true},
		{"227 Entering Passive Mode (10,0,0,2,117,48)", "203,0,113,1,117,48", "227 Entering Passive   (203,0,113,1,117,48)", true},
		{"227 Entering passive mode (10,0,0,2,117,48).", "203,0,113,1,117,48", "227 Entering passive   (203,0,113,1,117,48).", true},
		// Shrinking pads with spaces.
		{"227 Entering Passive Mode (192,168,100,200,117,48).", "203,0,113,1,117,48", "227 Entering Passive Mode     (203,0,113,1,117,48).", true},
		// Growth the words cannot absorb exactly: whole words go, spaces fill.
		{"227 Entering Passive Mode (10,0,0,2,4,0).", "203,113,113,113,255,255", "227 Entering   (203,113,113,113,255,255).", true},
		{"227 Entering Passive Mode (1,1,1,1,4,0).", "203,113,113,113,255,255", "227 Entering  (203,113,113,113,255,255).", true},
		// No parentheses: the numbers follow the text.
		{"227 Entering Passive Mode 10,0,0,2,117,48", "203,0,113,1,117,48", "227 Entering Passive   203,0,113,1,117,48", true},
		{"227 =10,0,0,2,117,48", "10,0,0,20,117,48", "227 10,0,0,20,117,48", true},
		// Nothing absorbs it.
		{"227 (10,0,0,2,117,48)", "203,0,113,1,117,48", "", false},
		{"227 =10,0,0,2,117,48", "203,0,113,1,117,48", "", false},
	} {
		t.Run(tc.line, func(t *testing.T) {
			r := ftp.ParseReply([]byte(tc.line))
			_, start, end, err := ftp.Parse227(r.Text)
			if err != nil {
				t.Fatal(err)
			}
			line := []byte(tc.line)
			sp := replySpan(line, len(line)-len(r.Text), start, end)
			repl, from, n, ok := sameLength(nil, line, sp, []byte(tc.field))
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if len(repl) != n {
				t.Fatalf("replacement %q of %d bytes replaces %d", repl, len(repl), n)
			}
			got := tc.line[:from] + string(repl) + tc.line[from+n:]
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if _, _, _, err := ftp.Parse227([]byte(got[4:])); err != nil {
				t.Fatalf("rewritten line does not parse: %v", err)
			}
		})
	}
}

func TestSameLength229(t *testing.T) {
	line := []byte("229 Entering Extended Passive Mode (|||6446|)")
	r := ftp.ParseReply(line)
	_, start, end, err := ftp.Parse229(r.Text)
	if err != nil {
		t.Fatal(err)
	}
	sp := replySpan(line, len(line)-len(r.Text), start, end)
	for field, want := range map[string]string{
		"6447":  "229 Entering Extended Passive Mode (|||6447|)",
		"10001": "229 Entering Extended Passive     (|||10001|)",
		"1025":  "229 Entering Extended Passive Mode (|||1025|)",
	} {
		repl, from, n, ok := sameLength(nil, line, sp, []byte(field))
		if !ok {
			t.Fatalf("%s: not kept", field)
		}
		got := string(line[:from]) + string(repl) + string(line[from+n:])
		if len(got) != len(line) || !strings.Contains(got, "(|||"+field+"|)") {
			t.Fatalf("%s: got %q", field, got)
		}
		if got != want {
			t.Fatalf("%s: got %q, want %q", field, got, want)
		}
	}
}

func TestRefusalKeepsTheLength(t *testing.T) {
	for n, want := range map[int]string{0: "", 3: "ref", 5: "refus", 17: "refused-by-ftpalg", 19: "refused-by-ftpalg-r", 40: "refused-by-ftpalg-refused-by-ftpalg-refu"} {
		if got := refusal(n); got != want {
			t.Errorf("refusal(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestNATRewritesKeepTheLength runs whole sessions: behind DNAT the 227 and
// the 229 of the usual servers keep their length; a masqueraded client's
// PORT keeps it when a public port with the right digits exists; an EPRT
// whose address grows cannot, and resizes the session.
func TestNATRewritesKeepTheLength(t *testing.T) {
	type step struct {
		dir        Dir
		text, want string // want: what the receiver gets ("" = unchanged)
	}
	for _, tc := range []struct {
		name    string
		masq    bool
		steps   []step
		resized bool
	}{
		{"vsftpd PASV", false, []step{{FromClient, "PASV\r\n", ""}, {FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n", "227 Entering Passive  (203,0,113,10,195,80).\r\n"}}, false},
		{"pyftpdlib PASV", false, []step{{FromClient, "PASV\r\n", ""}, {FromServer, "227 Entering passive mode (10,0,0,5,195,80).\r\n", "227 Entering passive  (203,0,113,10,195,80).\r\n"}}, false},
		{"EPSV", false, []step{{FromClient, "EPSV\r\n", ""}, {FromServer, "229 Entering Extended Passive Mode (|||50000|)\r\n", ""}}, false},
		{"masqueraded PORT with a long port", true, []step{{FromClient, "PORT 10,1,1,2,200,100\r\n", "PORT 198,51,100,1,4,0\r\n"}}, false},
		{"masqueraded PORT that cannot keep it", true, []step{{FromClient, "PORT 10,1,1,2,200,10\r\n", "PORT 198,51,100,1,200,10\r\n"}}, true},
		{"masqueraded EPRT that cannot keep it", true, []step{{FromClient, "EPRT |1|10.1.1.2|51001|\r\n", "EPRT |1|198.51.100.1|51001|\r\n"}}, true},
		{"refused PORT", false, []step{{FromClient, "PORT 192,0,2,1,200,10\r\n", "PORT refused-by-ftpal\r\n"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l *lab
			if tc.masq {
				priv, pub, srv := mustAP("10.1.1.2:40001"), mustAP("198.51.100.1:61000"), mustAP("203.0.113.20:21")
				l = newLab(t, Config{NAT: fakeNAT{Tuples{Orig: Tuple{Src: priv, Dst: srv}, Reply: Tuple{Src: srv, Dst: pub}}}}, priv, srv)
			} else {
				l = natLab(t, "10.0.0.5:21")
			}
			login(l)
			for _, st := range tc.steps {
				rcv := l.ep[1-st.dir]
				before := len(rcv.rcv)
				l.send(st.dir, st.text)
				want := st.want
				if want == "" {
					want = st.text
				}
				if got := string(rcv.rcv[before:]); got != want {
					t.Fatalf("receiver got %q, want %q", got, want)
				}
			}
			if n := len(l.effects(EffResized)); (n == 1) != tc.resized || n > 1 {
				t.Fatalf("%d resized effects, want resized %v", n, tc.resized)
			}
		})
	}
}
