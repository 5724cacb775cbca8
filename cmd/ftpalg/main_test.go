package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayPrintsDecisions(t *testing.T) {
	file := filepath.Join("..", "..", "..", "shared", "corpus", "ftp-pcaps", "aliawa__ftp_passive-msftp.pcap")
	var out, errb bytes.Buffer
	if code := run([]string{"replay", "-summary", file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var opens, used int
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct {
			Decision string
			Pinhole  *struct{ Src, Dst string }
			Session  uint64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		switch rec.Decision {
		case "open":
			opens++
			if rec.Pinhole == nil || rec.Pinhole.Dst == "" || rec.Session == 0 {
				t.Fatalf("open without pinhole or session: %q", line)
			}
		case "used":
			used++
		}
	}
	if opens != 2 || used != 2 {
		t.Fatalf("%d opens, %d used; want 2 and 2:\n%s", opens, used, out.String())
	}
	if !strings.Contains(errb.String(), "aliawa__ftp_passive-msftp.pcap") {
		t.Fatalf("no summary: %s", errb.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"replay"}, {"replay", "-ports", "0", "x.pcap"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pinhole:\n  mark: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"check", "-config", "../../testdata/ftpalg.yaml"}, 0, "ok", ""},
		{[]string{"check", "-config", "../../testdata/ftpalg.yaml", "-print"}, 0, "mark: 0x2000", ""},
		{[]string{"check", "-config", bad}, 1, "", "line 2: pinhole.mark"},
		{[]string{"check"}, 2, "", "usage"},
		{[]string{"check", "-config", filepath.Join(dir, "missing.yaml")}, 1, "", "no such file"},
		{[]string{"run", "-config", bad}, 1, "", "line 2: pinhole.mark"},
		{[]string{"run", "extra"}, 2, "", "unexpected arguments"},
		{[]string{"frobnicate"}, 2, "", "unknown command"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out.String(), errb.String(), tt.code, tt.out, tt.err)
		}
	}
}
