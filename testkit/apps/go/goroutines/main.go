// goroutines starts a goroutine per request that waits for a reply nobody
// sends: the textbook goroutine leak. GET /work?n=N handles N requests.
package main

import (
	"context"
	"runtime/pprof"

	"leakhound.test/apps/serve"
)

// awaitReply parks forever: the channel is never written or closed.
//
//go:noinline
func awaitReply(reply chan []byte) {
	<-reply
}

func main() {
	serve.Run(func(n int) int {
		// The goroutines carry a request-scoped label, as servers label them
		// by user or tenant; its value is what redaction tests look for.
		labels := pprof.Labels("session", "LEAKHOUND-SECRET-pprof")
		pprof.Do(context.Background(), labels, func(context.Context) {
			for i := 0; i < n; i++ {
				go awaitReply(make(chan []byte))
			}
		})
		return n
	})
}
