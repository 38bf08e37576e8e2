package main

import (
	"strconv"
	"sync"
)

// Retry tests: a unary Echo whose request carries `x-fail-first: N` and
// `x-fail-key: K` fails with its outcome's error for the first N requests
// of key K and succeeds from then on (the outcome's error is ignored). Every
// such request counts, so a test sees how often a call was sent.
var (
	failMu     sync.Mutex
	failCounts = map[string]int{}
)

// failFirst reports whether this request (of info) is to fail, and counts it.
func failFirst(info *requestInfo) (handled bool, fail bool) {
	first := info.header.Get("X-Fail-First")
	if first == "" {
		return false, false
	}
	n, err := strconv.Atoi(first)
	if err != nil {
		return false, false
	}
	key := info.header.Get("X-Fail-Key")
	failMu.Lock()
	failCounts[key]++
	count := failCounts[key]
	failMu.Unlock()
	return true, count <= n
}
