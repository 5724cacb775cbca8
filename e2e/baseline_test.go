package e2e

import "testing"

// TestLabBaselineKernelHelper runs the DNAT lab with the kernel's own FTP
// helper (nf_conntrack_ftp + nf_nat_ftp) in place of ftpalg. If this fails,
// the lab (namespaces, servers, clients, admin ruleset) is broken, not
// ftpalg.
func TestLabBaselineKernelHelper(t *testing.T) {
	g := labDNAT(t, adminKernelHelper)
	srv := startVsftpd(t, g.Server, serverPriv, serverOpts{})
	for _, x := range []xfer{
		{Tool: GoFTP, Mode: PASV, Big: true},
		{Tool: Curl, Mode: PORT, Upload: true},
	} {
		t.Run(x.String(), func(t *testing.T) {
			x.run(t, g.Client, g.ClientAddr, g.Dial, srv)
		})
	}
}
