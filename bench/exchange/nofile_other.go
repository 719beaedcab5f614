//go:build !unix

package main

// raiseNofile: no such limit to raise here (row 3 reads /proc, Linux only).
func raiseNofile(need uint64) (uint64, error) { return need, nil }
