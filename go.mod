module github.com/ftpalg/ftpalg

go 1.26

require (
	github.com/florianl/go-nfqueue/v2 v2.1.0
	github.com/google/nftables v0.3.1-0.20251119083706-1db35da82052 // replaced below
	github.com/gopacket/gopacket v1.7.7 // tests only: the reference reader replay's pcap reader is checked against
	github.com/jlaffaye/ftp v0.2.0
	github.com/mdlayher/netlink v1.9.0
	github.com/prometheus/client_golang v1.23.2 // tests only: promlint checks the exposition internal/promtext writes
	github.com/prometheus/client_model v0.6.2 // tests only
	github.com/prometheus/common v0.66.1 // tests only: Prometheus' own parser reads the exposition back
	go.yaml.in/yaml/v3 v3.0.4
	golang.org/x/net v0.55.0
	golang.org/x/sync v0.19.0
	golang.org/x/sys v0.45.0
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/hashicorp/errwrap v1.0.0 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/mdlayher/socket v0.5.1 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	google.golang.org/protobuf v1.36.8 // indirect
)

// google/nftables: ftpalg needs this master pseudo-version (late 2025) for
// SetDestroyElements (NFT_MSG_DESTROYSETELEM: removing an element the kernel
// already consumed or expired must not fail the batch), GetGen and batch
// splitting, none of which v0.3.0 has. As published it does not build for
// 32-bit targets (arm, 386, mips, mipsle): conn.go:538 passes
// math.MaxUint32 to fmt.Sprintf as an int. No later upstream commit exists
// to move to (checked December 2026: upstream main is still 1db35da82052,
// and the module proxy lists only v0.2.0 and v0.3.0), so it is replaced by
// third_party/nftables: the same version, byte for byte, except the one-line
// fix in third_party/nftables-32bit.diff (scripts/cross checks that this diff
// is the only change against the proxy's copy). Drop the replace once
// upstream publishes a version with the fix. See README "Architectures".
replace github.com/google/nftables v0.3.1-0.20251119083706-1db35da82052 => ./third_party/nftables
