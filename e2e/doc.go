// Package e2e holds ftpalg's end-to-end tests: real FTP servers, real FTP
// clients and the real ftpalg daemon, with every packet going through a real
// kernel path inside throwaway network namespaces.
//
// # What is tested
//
// Each test builds a small lab of network namespaces joined by veth pairs:
// usually client — gateway — server, with ftpalg running in the gateway
// namespace (hooks: [forward]), or client — server with ftpalg on the FTP
// host itself (hooks: [input, output]). The gateway or host carries an
// ordinary administrator ruleset (table inet admin) whose filter chain has
// policy drop and admits only new control connections (tcp dport 21),
// established traffic, and connections that carry ftpalg's ct mark. No
// kernel FTP helper is used anywhere except in TestLabBaselineKernelHelper,
// which runs the same lab with the kernel's nf_conntrack_ftp/nf_nat_ftp
// instead of ftpalg so that a broken lab can be told apart from a broken
// ftpalg.
//
// The cases: a server behind DNAT (vsftpd and pyftpdlib; PASV, EPSV, PORT and
// EPRT; downloads and uploads with curl, lftp and an FTP client written in
// the test), a client behind masquerade, host mode, IPv6 without NAT, a long
// session whose rewrites make control lines both grow and shrink (conntrack
// must not count a single INVALID packet), and the negative cases: without
// ftpalg no data connection gets through; a pinhole admits only the
// announced connection; unused pinholes expire; nothing of a session is left
// after it ends; a clean stop removes ftpalg's table, kill -9 leaves only
// elements that time out; a deleted table comes back.
//
// Failure injection (failure_test.go, survive_test.go): kill -9, an
// upgrade (SIGTERM, then a new ftpalg), nft flush ruleset, a queue overrun
// and conntrack -D while sessions run. A session ftpalg never resized
// (its 227 rewritten at the same length, or nothing rewritten) must not
// notice: a NOOP during the disturbance is answered, and the next PASV on
// the same control connection is rewritten by the ftpalg that is back and
// its transfer is byte-exact; its conntrack entry is never be_liberal.
// A session ftpalg had to resize (a 227 with no free text to absorb the
// address's growth, from pyftpdlib) is the one that depends on ftpalg.
//
// FTPS (ftps_test.go): each TLS policy of a control port (block, allow,
// passthrough-range) and CCC, with vsftpd (ssl_enable) and proftpd
// (mod_tls, the one Debian server with CCC), curl --ssl-reqd and lftp,
// and a self-signed certificate made by the test. TestFTPSLabBaseline runs
// the same servers and clients without ftpalg through a gateway with the
// passive range opened by hand.
//
// TestHostile (hostile_*_test.go) plays over 60 hostile control-channel
// scripts (FTP bounce, bad numbers, text in the wrong place, malformed and
// split streams, raw out-of-order/overlapping/spoofed segments from a
// raw-socket server in rawtcp_test.go) through the DNAT gateway twice,
// with ftpalg and with the kernel's helper, plus reset-policy variants and
// pinhole exhaustion against small limits, and asserts pinholes, what
// each end received and ftpalg's log. FTPALG_SECURITY_TABLE=path writes
// the comparison table (SECURITY.md at the repository root), with the date
// and commit of the run; TestSecurityTableCurrent (no root needed, so it
// runs in every go test ./...) fails when SECURITY.md's rows or their
// expected outcomes no longer match the suite's cases.
//
// The f1-* rows (hostile_ftps_test.go) are a malicious FTPS server (Go's
// crypto/tls choosing the session ticket bytes) against real TLS clients
// (curl --ssl-reqd, Python's ftplib.FTP_TLS) that resume the session on a
// second control connection, so that their ClientHello carries a PORT line
// the server planted; the server breaks the 234/AUTH pairing first (a 234
// whose ACK does not cover the AUTH, "200-x" before the 234, a 334, an
// over-long FEAT reply). They run under tls: block and tls: allow. An
// AF_PACKET capture on the client checks that the planted bytes were
// really sent.
//
// The server matrix (matrix_test.go, issue 10): vsftpd, proftpd,
// pure-ftpd and pyftpdlib behind the DNAT gateway, each with curl, lftp,
// wget, Python's ftplib and github.com/jlaffaye/ftp (in-process), a PASV
// download and upload and an EPSV download where the client has EPSV over
// IPv4 (not wget). The 227/229 each client received is in the test log,
// and every rewrite ftpalg logs must keep the line's byte length (no
// session is resized). TestServerRefusals (refusal_test.go) sends the
// same-length refusal texts (PORT/EPRT/AUTH arguments replaced by
// "refused-by-ftpalg-..." of the same length) straight to each server and
// requires a 4xx/5xx answer; REFUSALS.md summarizes the answers.
//
// Status and reload (status_test.go, issue 11): "ftpalg status" run in
// the gateway namespace between a 227 and its RETR shows the session, both
// NAT views and the pinhole with its remaining time, and -json parses; a
// SIGHUP that raises policy.min_data_port above vsftpd's passive range
// makes the next PASV of the running session refused (low-port) while
// NOOP still gets 200; a file that fails validation and one that renames
// the table are refused with their key and the daemon goes on; a new
// control port rebuilds the table and a pinhole opened before it still
// admits its transfer. Each daemon gets its status socket beside its
// config in the lab's directory.
//
// TestMetrics (metrics_test.go) runs ftpalg with metrics.listen and
// scrapes /metrics from inside the gateway namespace before, during and
// after a passive download behind DNAT. TestBatchesPerTransfer counts
// the nftables batches of 20 downloads in one session, passive and
// active: one each (the pinhole's), since the data connection consumes
// pinhole and NAT mappings in the kernel.
//
// Conntrack events only for FTP (background_test.go, issue 12):
// TestEventFilterReload shows that a connection to a port that is not a
// control port wakes no event in ftpalg until a reload makes the port
// one. BenchmarkBackgroundTraffic measures ftpalg's CPU and event
// counters over an idle window and a window of 2,000 short non-FTP
// connections a second through the gateway (e2e/testdata/bgtraffic),
// with the event filter and without it (BENCHMARKS.md).
//
// Footprint (footprint_test.go, issue 13): BenchmarkFootprint reads
// ftpalg's VmRSS and VmHWM at idle and with 1,000 and 10,000 live control
// sessions (connections through the gateway to e2e/testdata/greeter,
// which sends "220 ready" and holds them; `ftpalg status -json` must then
// list every session the config allows), with the defaults and with the
// OpenWrt package's config (BENCHMARKS.md, "Footprint").
// TestMemoryLimitReload: memory_limit is applied on SIGHUP, an invalid
// one is refused with its key, off removes it.
//
// Every transfer is checked byte for byte (SHA-256). Addresses are taken
// only from documentation and private ranges and are used only inside the
// lab's namespaces.
//
// # Running
//
// The tests need root, nft, conntrack, ip, vsftpd, /usr/bin/python3 with
// pyftpdlib, curl, lftp and wget (Debian 12: apt-get install nftables
// conntrack iproute2 vsftpd python3-pyftpdlib lftp curl wget). They build ./cmd/ftpalg once
// per run. The CCC cases need proftpd, whose Debian package conflicts with
// vsftpd's: scripts/proftpd unpacks it (and the libraries it needs) into
// /opt/ftpalg-e2e/proftpd without installing it, and scripts/pureftpd
// unpacks pure-ftpd into /opt/ftpalg-e2e/pure-ftpd. pure-ftpd serves
// anonymous users from the home of the system user ftp (created by
// vsftpd's package): the test bind-mounts its root over that home in a
// private mount namespace of the server process.
//
//	go test ./e2e/ -v
//	go test ./e2e/ -v -run 'TestGatewayDNAT/vsftpd'
//
// Environment:
//
//	FTPALG_E2E=require   a missing prerequisite (not root, a missing binary)
//	                     is a failure instead of a skip; CI sets this so that
//	                     the suite can never be skipped silently.
//	FTPALG_E2E=skip      (or unset) a missing prerequisite skips the test.
//	                     Any other value is an error, and so is any value
//	                     but require when CI=true (.ci/run): nothing skips
//	                     the whole package (internal/testmode).
//	FTPALG_E2E_BIN=path  test this ftpalg binary instead of building one.
//	FTPALG_E2E_PROFTPD=dir  proftpd unpacked here instead of
//	                     /opt/ftpalg-e2e/proftpd.
//	FTPALG_E2E_PUREFTPD=dir  pure-ftpd unpacked here instead of
//	                     /opt/ftpalg-e2e/pure-ftpd.
//	FTPALG_REFUSALS_MD=path  TestServerRefusals writes its table there
//	                     (REFUSALS.md).
//	FTPALG_E2E_VERBOSE=1 print the diagnostics (logs, rulesets, conntrack)
//	                     for passing tests too.
//	FTPALG_E2E_KEEP=1    keep ftpalg's log and the lab's files on failure
//	                     (the path is printed); namespaces are always removed.
//	FTPALG_SECURITY_TABLE=path  TestHostile writes SECURITY.md there.
//	FTPALG_E2E_F1_PCAP=dir  the f1-* rows write what the client sent there
//	                     as pcap files (for tshark: -d tcp.port==21,tls).
//
// Namespaces are named fte-<pid>-<n>; every namespace and every process a
// test starts is removed in t.Cleanup, on failure too. On failure the test
// log gets ftpalg's log, the FTP servers' logs, and for every namespace of
// the lab `nft list ruleset`, `conntrack -L` and `conntrack -S`.
package e2e
