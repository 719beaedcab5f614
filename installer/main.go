// Command installer builds CardBridge's system packages from release
// binaries: the Debian/Ubuntu .deb (with an optional policy package that
// force-installs the extension), the Windows MSI (wixl) and the macOS pkg
// as far as Linux allows (the rest is done on a Mac: pkg.go,
// docs/install.md). Paths, manifests and extension IDs come from
// internal/install, the same code `cardbridge install --user` uses.
//
//	go run ./installer deb --out DIR --version V --host cardbridge --exchange cardbridge-exchange
//	    [--store-id ID]... [--dev] [--force ID=UPDATEURL]... [--approved ORIGIN]... [--firefox-url URL]
//	go run ./installer msi --out DIR --version V --host cardbridge.exe --exchange cardbridge-exchange.exe
//	    [--store-id ID]... [--dev] [--chrome-id ID] [--edge-id ID] [--firefox-url URL]
//	    [--sign-cert PEM --sign-key PEM [--sign-timestamp URL]]
//	go run ./installer pkg --out DIR --version V --host cardbridge --exchange cardbridge-exchange
//	    [--store-id ID]... [--dev]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cardbridge/cardbridge/internal/install"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "installer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "msi" {
		return runMSI(args[1:])
	}
	if len(args) > 0 && args[0] == "pkg" {
		return runPkg(args[1:])
	}
	if len(args) == 0 || args[0] != "deb" {
		return fmt.Errorf("usage: installer deb --out DIR --version V --host FILE --exchange FILE [--store-id ID]… [--dev] [--force ID=URL]… [--approved ORIGIN]… [--firefox-url URL]\n       installer msi --out DIR --version V --host FILE.exe --exchange FILE.exe [--store-id ID]… [--dev] [--chrome-id ID] [--edge-id ID] [--firefox-url URL] [--sign-cert PEM --sign-key PEM [--sign-timestamp URL]]\n       installer pkg --out DIR --version V --host FILE --exchange FILE [--store-id ID]… [--dev]")
	}
	fs := flag.NewFlagSet("deb", flag.ContinueOnError)
	var o debOptions
	var store, force, approved list
	packageFlags(fs, &o.Out, &o.Version, &o.Host, &o.Exchange, &o.Dev, &store)
	fs.StringVar(&o.Arch, "arch", "amd64", "Debian architecture")
	fs.Var(&force, "force", "ID=UPDATEURL: build cardbridge-policy, which force-installs this extension (repeatable)")
	fs.Var(&approved, "approved", "an https origin pre-approved for every user (repeatable)")
	fs.StringVar(&o.FirefoxURL, "firefox-url", "", "build cardbridge-policy, which force-installs the Firefox add-on from this https URL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	o.StoreIDs, o.Approved = store, approved
	for _, f := range force {
		id, url, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("--force %q: want ID=UPDATEURL", f)
		}
		o.Force = append(o.Force, install.ForceInstall{ID: id, UpdateURL: url})
	}
	debs, err := buildDebs(o)
	for _, d := range debs {
		fmt.Println(d)
	}
	return err
}

func runMSI(args []string) error {
	fs := flag.NewFlagSet("msi", flag.ContinueOnError)
	var o msiOptions
	var store list
	packageFlags(fs, &o.Out, &o.Version, &o.Host, &o.Exchange, &o.Dev, &store)
	fs.StringVar(&o.ChromeID, "chrome-id", "", "the Chrome Web Store ID EXTENSIONPOLICY=1 force-installs")
	fs.StringVar(&o.EdgeID, "edge-id", "", "the Edge Add-ons ID EXTENSIONPOLICY=1 force-installs")
	fs.StringVar(&o.FirefoxURL, "firefox-url", "", "the Firefox add-on's https URL EXTENSIONPOLICY=1 force-installs")
	var sg signer
	fs.StringVar(&sg.Cert, "sign-cert", "", "code-signing certificate (PEM, with its chain): signs the programs and the MSI")
	fs.StringVar(&sg.Key, "sign-key", "", "the certificate's private key (PEM)")
	fs.StringVar(&sg.Timestamp, "sign-timestamp", "", "an RFC 3161 time-stamp authority's URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.StoreIDs = store
	if (sg.Cert == "") != (sg.Key == "") {
		return fmt.Errorf("--sign-cert and --sign-key go together")
	}
	if sg.Cert != "" {
		o.Sign = &sg
	}
	msi, err := buildMSI(o)
	if err == nil {
		fmt.Println(msi)
	}
	return err
}

// packageFlags are the flags every package takes.
func packageFlags(fs *flag.FlagSet, out, version, host, exchange *string, dev *bool, store *list) {
	fs.StringVar(out, "out", "out/release", "folder the package is written to")
	fs.StringVar(version, "version", "0.1.0", "version (a git tag such as v1.2.3)")
	fs.StringVar(host, "host", "", "the cardbridge program (a release build)")
	fs.StringVar(exchange, "exchange", "", "the cardbridge-exchange program")
	fs.BoolVar(dev, "dev", false, "also allow the development extension (a development package only)")
	fs.Var(store, "store-id", "a Chrome Web Store or Edge Add-ons extension ID the manifests allow (repeatable)")
}
