// steady allocates per request and frees everything: plenty of garbage, no
// leak. A fixed working set is kept so the heap is never empty.
// GET /work?n=N handles N requests.
package main

import "leakhound.test/apps/serve"

// working is allocated once and reused: steady, not growing.
var working = make([][]byte, 64)

//go:noinline
func process(size int) int {
	buf := make([]byte, size)
	sum := 0
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i)
		sum += int(buf[i])
	}
	return sum
}

func main() {
	for i := range working {
		working[i] = make([]byte, 64<<10)
	}
	serve.Run(func(n int) int {
		total := 0
		for i := 0; i < n; i++ {
			total += process(320 << 10)
			copy(working[i%len(working)], working[(i+1)%len(working)])
		}
		return total
	})
}
