package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestKernelLibrariesStayInTheirPackages keeps the layout honest: only nfq
// imports go-nfqueue, only rules imports google/nftables, and the netlink
// library reaches the rest of ftpalg only through nfq, rules and
// ctnetlink.
func TestKernelLibrariesStayInTheirPackages(t *testing.T) {
	owners := map[string][]string{
		"github.com/florianl/go-nfqueue/v2": {"github.com/ftpalg/ftpalg/nfq"},
		"github.com/google/nftables":        {"github.com/ftpalg/ftpalg/rules"},
		"github.com/mdlayher/netlink": {"github.com/ftpalg/ftpalg/nfq", "github.com/ftpalg/ftpalg/rules",
			"github.com/ftpalg/ftpalg/ctnetlink"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/ftpalg/ftpalg/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			for lib, allowed := range owners {
				if imp != lib && !strings.HasPrefix(imp, lib+"/") {
					continue
				}
				ok := false
				for _, a := range allowed {
					ok = ok || pkg == a
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", pkg, imp, allowed)
				}
			}
		}
	}
}
