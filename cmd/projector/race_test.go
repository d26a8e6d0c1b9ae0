//go:build race

package main

// raceEnabled builds the binary under test with the race detector when the tests run with it, so
// that the end-to-end runs find races in the projector too.
const raceEnabled = true
