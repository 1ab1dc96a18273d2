// Package serve is what every sample app shares: listen on $LISTEN (default
// 127.0.0.1:6060), print the address for the test to wait on, serve
// net/http/pprof and the app's /work handler.
package serve

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // /debug/pprof/heap and /debug/pprof/goroutine
	"os"
	"runtime"
	"strconv"
)

// Sample every 4 KiB allocated rather than every 512 KiB, so that the heap
// profiles of these small apps count each 64 KiB buffer instead of estimating
// from a handful of samples; tests compare growth with what the app leaked.
// MEM_PROFILE_RATE=1 records every allocation, for a test that ranks by object
// counts: at 4 KiB one sampled 16-byte allocation still stands for 256 objects.
func init() {
	runtime.MemProfileRate = 4096
	if rate, err := strconv.Atoi(os.Getenv("MEM_PROFILE_RATE")); err == nil {
		runtime.MemProfileRate = rate
	}
}

// Run serves GET /work?n=N, calling work(N), until the process is killed.
func Run(work func(n int) int) {
	http.HandleFunc("/work", func(w http.ResponseWriter, req *http.Request) {
		n, _ := strconv.Atoi(req.URL.Query().Get("n"))
		fmt.Fprintf(w, "ok %d\n", work(n))
	})
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
