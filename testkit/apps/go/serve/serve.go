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
	"strconv"
)

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
