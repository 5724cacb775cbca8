package e2e

import "testing"

// TestHostMode is case 3: ftpalg runs on the FTP server itself (hooks
// input and output). The host's input chain has policy drop, so passive
// data connections need ftpalg's pinholes.
func TestHostMode(t *testing.T) {
	t.Run("input-closed", func(t *testing.T) {
		h := labHost(t, false)
		srv := startVsftpd(t, h.Server, h.ServerAddr, serverOpts{})
		d := startDaemon(t, h.Server, hostConfig())
		runPlan(t, h.Client, h.ClientAddr, h.ServerAddr, h.Server, d, srv, []xfer{
			{Tool: GoFTP, Mode: PASV, Big: true},
			{Tool: GoFTP, Mode: EPSV, Upload: true},
			{Tool: Curl, Mode: PASV, Upload: true, Big: true},
			{Tool: Curl, Mode: EPSV},
			{Tool: Lftp, Mode: PASV},
			{Tool: GoFTP, Mode: PORT, Upload: true},
			{Tool: Curl, Mode: EPRT},
		}, nil)
	})
	// With the output chain closed as well, an active-mode data
	// connection (the server connecting out to the client) passes only
	// through a pinhole in the output direction.
	t.Run("input-and-output-closed", func(t *testing.T) {
		h := labHost(t, true)
		srv := startVsftpd(t, h.Server, h.ServerAddr, serverOpts{})
		d := startDaemon(t, h.Server, hostConfig())
		runPlan(t, h.Client, h.ClientAddr, h.ServerAddr, h.Server, d, srv, []xfer{
			{Tool: GoFTP, Mode: PORT, Big: true},
			{Tool: GoFTP, Mode: EPRT, Upload: true},
			{Tool: Curl, Mode: PORT, Upload: true},
			{Tool: Lftp, Mode: PORT},
			{Tool: GoFTP, Mode: PASV},
		}, nil)
	})
}
