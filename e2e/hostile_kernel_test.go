package e2e

// What the kernel's helper (nf_conntrack_ftp + nf_nat_ftp, attached with
// "ct helper set" in the gateway's prerouting) was observed to do with
// each hostile case on this project's kernel (6.18). TestHostile asserts
// it, so that a kernel change shows up as a failure here.
//
// pins are the expectations "conntrack -L expect" listed during the case
// (src -> dst:port; the kernel's pinholes). "!ok" means the control
// connection stalled: the helper dropped the segment (it treats a line it
// cannot parse as a partial match and drops it, and drops every
// retransmission too), so nothing after it reached the server.

const (
	kPasv  = "198.51.100.10 -> 203.0.113.1:"
	kPort  = "10.0.0.2 -> 198.51.100.10:"
	kRaw   = "198.51.100.10 -> 203.0.113.3:30000"
	kNoop  = "!c:200 NOOP ok" // the client never got the replies after the case's
	kPub   = "c:227 Entering Passive Mode (" + publicTuple + ")"
	kPubRw = "c:227 Entering Passive Mode (203,0,113,3,117,48)"
)

var kernelObserved = map[string]expect{
	"legit-pasv":               {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}, probes: []bool{true}},
	"legit-port":               {pins: []string{kPort + "40000"}, sees: []string{"s:" + portClient, noopOK}, probes: []bool{true}},
	"legit-227-public-address": {sees: []string{kPub, noopOK}},

	"port-third-host":         {sees: []string{"s:PORT 198,51,100,99,156,64", noopOK}, probes: []bool{false, false}},
	"port-gateway-itself":     {sees: []string{"s:PORT 198,51,100,1,156,64", noopOK}},
	"port-gateway-public":     {sees: []string{"s:PORT 203,0,113,1,156,64", noopOK}},
	"port-private-other-side": {sees: []string{"s:PORT 10,0,0,99,156,64", noopOK}},
	"port-server-itself":      {sees: []string{"s:PORT 10,0,0,2,0,22", noopOK}},
	"eprt-third-host":         {sees: []string{"s:EPRT |1|198.51.100.99|40000|", noopOK}, probes: []bool{false, false}},
	"eprt-ipv6-on-ipv4":       {sees: []string{stalled}},
	"227-third-host":          {sees: []string{"c:227 Entering Passive Mode (10,0,0,99,117,48)", noopOK}, probes: []bool{false, false}},
	"227-gateway-inside":      {sees: []string{"c:227 Entering Passive Mode (10,0,0,1,117,48)", noopOK}},
	"227-client-side-host":    {sees: []string{"c:227 Entering Passive Mode (198,51,100,99,117,48)", noopOK}},

	"port-zero":         {pins: []string{kPort + "0"}, sees: []string{stalled}},
	"port-21":           {pins: []string{kPort + "21"}, sees: []string{"s:PORT 198,51,100,10,0,21", noopOK}},
	"port-1023":         {pins: []string{kPort + "1023"}, sees: []string{"s:PORT 198,51,100,10,3,255", noopOK}, probes: []bool{true}},
	"eprt-65536":        {sees: []string{stalled}},
	"eprt-20-digits":    {pins: []string{kPort + "40000"}, sees: []string{"s:EPRT |1|198.51.100.10|40000|", noopOK}},
	"port-octet-266":    {sees: []string{"s:PORT 198,51,99,266,156,64", noopOK}},
	"port-byte-256":     {pins: []string{kPort + "64"}, sees: []string{"s:PORT 198,51,100,10,0,64", noopOK}, probes: []bool{true}},
	"port-signed":       {sees: []string{stalled}},
	"port-20-digits":    {pins: []string{kPort + "40000"}, sees: []string{"s:PORT 198,51,100,10,156,64\r\n", noopOK}},
	"port-five-fields":  {sees: []string{stalled}},
	"port-seven-fields": {sees: []string{stalled}},
	"227-port-byte-300": {pins: []string{kPasv + "11312"}, sees: []string{"c:227 Entering Passive Mode (203,0,113,1,44,48)", noopOK}},
	"227-five-fields":   {sees: []string{"!c:227", kNoop}},
	"227-low-port":      {pins: []string{kPasv + "21"}, sees: []string{"c:227 Entering Passive Mode (203,0,113,1,0,21)", noopOK}},
	"229-port-0":        {sees: []string{"!c:229", kNoop}},
	"229-port-65536":    {sees: []string{"!c:229", kNoop}},
	"229-port-22":       {pins: []string{kPasv + "22"}, sees: []string{"c:229 Entering Extended Passive Mode (|||22|)", noopOK}, probes: []bool{true}},

	"port-in-file-name":              {sees: []string{"s:RETR x " + portClient, noopOK}},
	"port-after-bare-lf":             {sees: []string{noopOK}},
	"port-after-bare-lf-own-segment": {pins: []string{kPort + "40000"}, sees: []string{noopOK}, probes: []bool{true}},
	"227-in-banner":                  {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}, probes: []bool{true}},
	"227-inside-reply-text":          {sees: []string{"c:200 ok, not a " + pasv30000, noopOK}},
	"227-after-bare-lf":              {pins: []string{kPasv + "30000"}, sees: []string{"c:200 ok\n" + kPub[2:], noopOK}},
	"227-unsolicited":                {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}, probes: []bool{true}},
	"227-no-command":                 {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}},
	"227-before-greeting":            {sees: []string{"c:" + pasv30000, noopOK}},
	"227-inside-multiline-reply":     {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}},
	"227-after-epsv-all":             {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}, probes: []bool{true}},

	"line-10k-client":           {sees: []string{noopOK}},
	"line-10k-port":             {sees: []string{stalled}},
	"line-10k-227":              {pins: []string{kPasv + "30000"}, sees: []string{kPub + ".AAAA", noopOK}},
	"nul-in-port":               {sees: []string{stalled}},
	"nul-before-port":           {sees: []string{noopOK}},
	"nul-in-227":                {sees: []string{"!c:227", kNoop}},
	"non-utf8-in-port":          {sees: []string{stalled}},
	"non-utf8-file-name":        {sees: []string{noopOK}},
	"port-keyword-split":        {sees: []string{stalled}},
	"port-split-bounce":         {sees: []string{stalled}},
	"227-split-in-address":      {sees: []string{"!c:227", kNoop}},
	"one-byte-segments-session": {sees: []string{"!c:227", stalled}},
	"one-byte-segments-bounce":  {sees: []string{stalled}, probes: []bool{false, false}},

	"pyftpdlib-port-bounce": {sees: []string{"c:501 Rejected data connection to foreign address", "c:221"}, probes: []bool{false}},
	"pyftpdlib-port-low":    {pins: []string{"10.0.0.3 -> 198.51.100.10:25"}, sees: []string{"c:501 PORT against the privileged port", "c:221"}},

	"raw-227-out-of-order":                     {sees: []string{"!c:227", kNoop}},
	"raw-227-duplicated":                       {pins: []string{kRaw}, sees: []string{kPubRw, noopOK}},
	"raw-227-retransmitted-hostile":            {pins: []string{kRaw}, sees: []string{kPubRw, noopOK}},
	"raw-227-hostile-then-retransmitted-legit": {pins: []string{kRaw}, sees: []string{"c:227 Entering Passive Mode (10,0,9,4,117,48).\r\n.\r\n", noopOK}},
	"raw-227-overlap-different-bytes":          {sees: []string{"!c:227", kNoop}},
	"raw-227-spoofed-ahead-of-window":          {pins: []string{kRaw}, sees: []string{kPubRw, "!c:156,64", noopOK}},
	"raw-227-spoofed-line-ahead-of-window":     {pins: []string{kRaw}, sees: []string{kPubRw, "!c:156,64", noopOK}},
	"raw-227-spoofed-line-ahead-wrong-ack":     {pins: []string{kRaw}, sees: []string{kPubRw, "!c:156,64", noopOK}},
	"raw-227-spoofed-behind-window":            {pins: []string{kRaw}, sees: []string{kPubRw, "!c:156,64", noopOK}},
	"raw-227-spoofed-beyond-gap":               {sees: []string{"!c:156,64"}},

	"f2-epsv-after-epsv-all":             {pins: []string{kPasv + "30000"}, sees: []string{"c:229 Entering Extended Passive Mode (|||30000|)", noopOK}, probes: []bool{true}},
	"f3-long-reply-then-pasv":            {pins: []string{kPasv + "30000"}, sees: []string{kPub, noopOK}, probes: []bool{true}},
	"f3-long-reply-then-port-500":        {pins: []string{kPort + "40000"}, sees: []string{noopOK}, probes: []bool{true}},
	"f4-unended-multiline-then-port-500": {pins: []string{kPort + "40000"}, sees: []string{noopOK}, probes: []bool{true}},
	"f7-quit-and-port-one-segment":       {sees: []string{"s:QUIT"}, probes: []bool{false}},
	"f7-auth-and-port-one-segment":       {sees: []string{noopOK}, probes: []bool{false}},

	"f1-234-ack-before-auth-curl":        {probes: []bool{false}},
	"f1-234-ack-before-auth-python":      {probes: []bool{false}},
	"f1-234-after-200-dash-curl":         {probes: []bool{false}},
	"f1-long-feat-reply-then-234-python": {probes: []bool{false}},
	"f1-334-to-auth-curl":                {probes: []bool{false}},
}
