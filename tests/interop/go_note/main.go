// Interop check: verify Accord's signed checkpoints with Go's golang.org/x/mod/sumdb/note,
// and sign a note with it for Accord to verify. Run by tests/audit/test_audit_go_interop.py
// when ACCORD_GO_INTEROP=1 (needs a Go toolchain and the module proxy).
//
// Usage: go run . verify <vkey> <file>      -> prints "ok <name>+<hash>" or exits 1
//        go run . sign <skey> <text file>    -> prints the signed note
package main

import (
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: verify VKEY FILE | sign SKEY FILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "verify":
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		n, err := note.Open(data, note.VerifierList(v))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, s := range n.Sigs {
			fmt.Printf("ok %s+%08x\n", s.Name, s.Hash)
		}
	case "sign":
		s, err := note.NewSigner(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		msg, err := note.Sign(&note.Note{Text: string(data)}, s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.Write(msg)
	default:
		os.Exit(2)
	}
}
