package conntrack

import (
	"strings"
	"testing"
	"time"
)

// TestProtocolRules drives whole exchanges and checks which pinholes open
// and what the peers receive. Every row starts after a login without NAT.
func TestProtocolRules(t *testing.T) {
	type step struct {
		dir  Dir
		text string
	}
	c := func(s string) step { return step{FromClient, s} }
	s := func(s string) step { return step{FromServer, s} }
	for _, tc := range []struct {
		name    string
		steps   []step
		opens   int
		reason  Reason // a violation with this reason must be reported; 0: no violation at all
		peerHas string // the receiving peer's stream ends with this
	}{
		{"passive", []step{c("PASV\r\n"), s("227 Entering Passive Mode (203,0,113,10,195,80)\r\n")}, 1, 0, ""},
		{"passive lower-case command", []step{c("pasv\r\n"), s("227 Entering passive mode (203,0,113,10,195,80).\r\n")}, 1, 0, ""},
		{"epsv", []step{c("EPSV\r\n"), s("229 Entering Extended Passive Mode (|||6446|)\r\n")}, 1, 0, ""},
		{"epsv other delimiter", []step{c("EPSV\r\n"), s("229 ok (!!!6446!)\r\n")}, 1, 0, ""},
		{"port", []step{c("PORT 198,51,100,7,200,10\r\n")}, 1, 0, ""},
		{"eprt", []step{c("EPRT |1|198.51.100.7|51210|\r\n")}, 1, 0, ""},
		{"eprt with another delimiter", []step{c("eprt !1!198.51.100.7!51210!\r\n")}, 1, 0, ""},
		{"227 without PASV", []step{s("227 Entering Passive Mode (203,0,113,10,195,80)\r\n")}, 0, ReasonUnsolicited, "425 Entering Passive Mode (203,0,113,10,195,80)\r\n"},
		{"227 answering PORT", []step{c("PORT 198,51,100,7,200,10\r\n"), s("227 Entering Passive Mode (203,0,113,10,195,80)\r\n")}, 1, ReasonWrongCommand, ""},
		{"229 answering PASV", []step{c("PASV\r\n"), s("229 Entering Extended Passive Mode (|||6446|)\r\n")}, 0, ReasonWrongCommand, ""},
		{"227 naming a third host", []step{c("PASV\r\n"), s("227 Entering Passive Mode (192,0,2,1,195,80)\r\n")}, 0, ReasonBounce, "425 Entering Passive Mode (192,0,2,1,195,80)\r\n"},
		{"227 naming the client", []step{c("PASV\r\n"), s("227 Entering Passive Mode (198,51,100,7,195,80)\r\n")}, 0, ReasonBounce, "425 Entering Passive Mode (198,51,100,7,195,80)\r\n"},
		{"PORT naming the server", []step{c("PORT 203,0,113,10,200,10\r\n")}, 0, ReasonBounce, "PORT refused-by-ftpalg-r\r\n"},
		{"PORT naming a third host", []step{c("PORT 192,0,2,1,200,10\r\n")}, 0, ReasonBounce, "PORT refused-by-ftpal\r\n"},
		{"EPRT naming a third host", []step{c("EPRT |1|192.0.2.1|51210|\r\n")}, 0, ReasonBounce, "EPRT refused-by-ftpalg-r\r\n"},
		{"EPRT IPv6 on IPv4 control", []step{c("EPRT |2|2001:db8::1|51210|\r\n")}, 0, ReasonFamily, ""},
		{"PORT to a low port", []step{c("PORT 198,51,100,7,0,22\r\n")}, 0, ReasonLowPort, ""},
		{"PORT port 0", []step{c("PORT 198,51,100,7,0,0\r\n")}, 0, ReasonSyntax, ""},
		{"PORT octet 256", []step{c("PORT 198,51,100,256,200,10\r\n")}, 0, ReasonSyntax, ""},
		{"PORT with sign", []step{c("PORT 198,51,100,7,+200,10\r\n")}, 0, ReasonSyntax, ""},
		{"PORT with 20 digits", []step{c("PORT 198,51,100,7,00000000000000000200,10\r\n")}, 0, ReasonSyntax, ""},
		{"PORT too few fields", []step{c("PORT 198,51,100,7,200\r\n")}, 0, ReasonSyntax, ""},
		{"PORT too many fields", []step{c("PORT 198,51,100,7,200,10,1\r\n")}, 0, ReasonSyntax, ""},
		{"227 octet 256", []step{c("PASV\r\n"), s("227 Entering Passive Mode (203,0,113,256,195,80)\r\n")}, 0, ReasonSyntax, ""},
		{"227 Logout.", []step{c("PASV\r\n"), s("227 Logout.\r\n")}, 0, ReasonSyntax, ""},
		{"229 port 65536", []step{c("EPSV\r\n"), s("229 ok (|||65536|)\r\n")}, 0, ReasonSyntax, ""},
		{"PORT inside a file name", []step{c("RETR PORT 198,51,100,7,200,10\r\n")}, 0, 0, ""},
		{"227 inside a banner line", []step{c("PASV\r\n"), s("200 note: 227 Entering Passive Mode (203,0,113,10,195,80)\r\n")}, 0, 0, ""},
		{"PORT after a bare LF", []step{c("NOOP\nPORT 198,51,100,7,200,10\r\n")}, 0, 0, ""},
		{"227 inside a multi-line reply", []step{c("PASV\r\n"), s("230-Welcome\r\n227 Entering Passive Mode (203,0,113,10,195,80)\r\n230 ok\r\n")}, 0, ReasonAmbiguous, ""},
		{"multi-line 227", []step{c("PASV\r\n"), s("227-Entering Passive Mode (203,0,113,10,195,80)\r\n227 OK\r\n")}, 1, 0, ""},
		{"multi-line 227 address on last line", []step{c("PASV\r\n"), s("227-Passive\r\n text\r\n227 Entering Passive Mode (203,0,113,10,195,80)\r\n")}, 1, 0, ""},
		{"PORT refused by the server", []step{c("PORT 198,51,100,7,200,10\r\n"), s("500 Illegal PORT command.\r\n")}, 1, 0, ""},
		{"EPSV ALL then PORT", []step{c("EPSV ALL\r\n"), s("200 EPSV ALL ok\r\n"), c("PORT 198,51,100,7,200,10\r\n")}, 0, ReasonEPSVAll, ""},
		{"EPSV ALL then PASV", []step{c("EPSV ALL\r\n"), s("200 EPSV ALL ok\r\n"), c("PASV\r\n"), s("227 Entering Passive Mode (203,0,113,10,195,80)\r\n")}, 0, ReasonEPSVAll, ""},
		{"after QUIT", []step{c("QUIT\r\n"), s("221 Goodbye.\r\n"), c("PORT 198,51,100,7,200,10\r\n")}, 0, ReasonClosing, ""},
		{"line too long", []step{c("NOOP " + strings.Repeat("A", 2000) + "\r\n"), c("PORT 198,51,100,7,200,10\r\n")}, 1, ReasonLineTooLong, ""},
		{"NUL and non-UTF-8", []step{c("PORT 198,51,100,7,200,10\x00\xff\r\n")}, 0, ReasonSyntax, ""},
		{"AUTH TLS then PORT-like bytes", []step{c("AUTH TLS\r\n"), s("234 Proceed with negotiation.\r\n"), c("\x16\x03\x01\x00\x05hello"), c("PORT 198,51,100,7,200,10\r\n")}, 0, 0, ""},
		{"AUTH refused stays clear", []step{c("AUTH TLS\r\n"), s("530 Please login with USER and PASS.\r\n"), c("PORT 198,51,100,7,200,10\r\n")}, 1, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			l.clearLog()
			for _, st := range tc.steps {
				l.send(st.dir, st.text)
			}
			if n := len(l.effects(EffOpenPinhole)); n != tc.opens {
				t.Errorf("%d pinholes opened, want %d; events %+v", n, tc.opens, l.Events)
			}
			if v := l.effects(EffViolation); tc.reason == 0 && len(v) != 0 {
				t.Errorf("violations %+v, want none", v)
			} else if tc.reason != 0 {
				found := false
				for _, v := range v {
					found = found || v.Reason == tc.reason
				}
				if !found {
					t.Errorf("no %v violation; effects %+v", tc.reason, l.Effects)
				}
			}
			if tc.peerHas != "" {
				last := tc.steps[len(tc.steps)-1]
				got := string(l.ep[1-last.dir].rcv)
				if !strings.HasSuffix(got, tc.peerHas) {
					t.Errorf("peer received %q, want suffix %q", got, tc.peerHas)
				}
			}
		})
	}
}

func TestPortWithdrawnBy5xx(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
	l.send(FromServer, "501 Illegal PORT command.\r\n")
	c := l.effects(EffClosePinhole)
	if len(c) != 1 || c[0].Reason != ReasonWithdrawn {
		t.Fatalf("closes %+v", c)
	}
}

func TestAnnouncementBeforeGreeting(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	l.handshake()
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	if len(l.effects(EffOpenPinhole)) != 0 {
		t.Fatal("pinhole before the greeting")
	}
	v := l.effects(EffViolation)
	if len(v) != 1 || v[0].Reason != ReasonBeforeGreeting {
		t.Fatalf("violations %+v", v)
	}
}

func TestCCCClearsTheChannel(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "AUTH TLS\r\n")
	l.send(FromServer, "234 Proceed.\r\n")
	if len(l.effects(EffOpaque)) != 1 {
		t.Fatal("not opaque after 234")
	}
	// TLS records both ways (handshake, CCC and its 200, close_notify),
	// then clear text.
	rec := func(typ byte, n int) string {
		return string([]byte{typ, 3, 3, byte(n >> 8), byte(n)}) + strings.Repeat("x", n)
	}
	l.send(FromClient, rec(22, 300)+rec(23, 40))
	l.send(FromServer, rec(22, 2000))
	l.send(FromServer, rec(23, 40)+rec(21, 26))
	l.send(FromClient, rec(21, 26))
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	if len(l.effects(EffClear)) != 1 || len(l.effects(EffOpenPinhole)) != 1 {
		t.Fatalf("after CCC: %+v", l.Effects)
	}
}

// After CCC only the server may send close_notify: curl's default
// (passive) CCC mode waits for it and goes on in clear text.
func TestCCCWithServerAlertOnly(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "AUTH TLS\r\n")
	l.send(FromServer, "234 Proceed.\r\n")
	rec := func(typ byte, n int) string {
		return string([]byte{typ, 3, 3, byte(n >> 8), byte(n)}) + strings.Repeat("x", n)
	}
	l.send(FromClient, rec(22, 300)+rec(23, 40))
	l.send(FromServer, rec(22, 2000))
	l.send(FromServer, rec(23, 40)+rec(21, 26))
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	if len(l.effects(EffClear)) != 1 || len(l.effects(EffOpenPinhole)) != 1 {
		t.Fatalf("after CCC with the server's close_notify only: %+v", l.Effects)
	}
	// Without any alert, clear text on a TLS channel stays opaque.
	l = newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "AUTH TLS\r\n")
	l.send(FromServer, "234 Proceed.\r\n")
	l.send(FromClient, rec(22, 300))
	l.send(FromServer, rec(22, 2000))
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	if len(l.effects(EffClear)) != 0 || len(l.effects(EffOpenPinhole)) != 0 {
		t.Fatalf("clear text without any TLS alert was parsed: %+v", l.Effects)
	}
}

func TestSessionEndClosesPinholes(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	l.send(FromClient, "QUIT\r\n")
	l.send(FromServer, "221 Goodbye.\r\n")
	if c := l.effects(EffClosePinhole); len(c) != 1 || c[0].Reason != ReasonQuit {
		t.Fatalf("closes %+v", c)
	}
	if l.tr.Pinholes() != 0 {
		t.Fatal("pinholes left")
	}
}

func TestPinholeExpires(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	l.tick(29 * time.Second)
	if l.tr.Pinholes() != 1 {
		t.Fatal("pinhole gone early")
	}
	l.tick(2 * time.Second)
	if c := l.effects(EffClosePinhole); len(c) != 1 || c[0].Reason != ReasonExpired || l.tr.Pinholes() != 0 {
		t.Fatalf("closes %+v", c)
	}
}
