// leak keeps every request's buffer in a global registry and never lets go:
// the textbook Go heap leak. GET /work?n=N handles N requests.
package main

import (
	"sync"

	"leakhound.test/apps/serve"
)

type registry struct {
	mu    sync.Mutex
	items [][]byte
}

var sessions = &registry{}

// track remembers a session buffer forever: this is the line that leaks.
//
//go:noinline
func (r *registry) track(size int) {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	r.mu.Lock()
	r.items = append(r.items, buf)
	r.mu.Unlock()
}

// scratch allocates and drops a buffer, so the profile has honest garbage too.
//
//go:noinline
func scratch(size int) int {
	b := make([]byte, size)
	return len(b)
}

func main() {
	serve.Run(func(n int) int {
		for i := 0; i < n; i++ {
			sessions.track(64 << 10)
			scratch(256 << 10)
		}
		return n
	})
}
