package main

// Request counters for the reliability suite (tests/reliability/).
//
// A request carrying an `x-rel-tag` header is counted under that tag: when
// its handler starts, when it ends, and whether the request's context was
// already done at the end (the client went away: a reset stream, a closed
// connection). An `x-rel-id` header names one call; the handler seeing the
// same id twice is a replay. GET /_reliability/stats?tag=T answers the
// counters of T as JSON (`forget=1` drops them after answering), with the
// CPU time the server process used so far (`cpu_seconds`, user + system):
// the load test reports the server's share of each call's cost.

import (
	"encoding/json"
	"net/http"
	"sync"
	"syscall"
)

const (
	statsPath      = "/_reliability/stats"
	statsTagHeader = "X-Rel-Tag"
	statsIDHeader  = "X-Rel-Id"
)

type tagStats struct {
	Started   int64 `json:"started"`
	Active    int64 `json:"active"`
	Ended     int64 `json:"ended"`
	Cancelled int64 `json:"cancelled"`
	Replayed  int64 `json:"replayed"`
	ids       map[string]int64
}

var (
	statsMu sync.Mutex
	stats   = map[string]*tagStats{}
)

func statsFor(tag string) *tagStats {
	s := stats[tag]
	if s == nil {
		s = &tagStats{ids: map[string]int64{}}
		stats[tag] = s
	}
	return s
}

func statsMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == statsPath {
			serveStats(w, r)
			return
		}
		tag := r.Header.Get(statsTagHeader)
		if tag == "" {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get(statsIDHeader)
		statsMu.Lock()
		s := statsFor(tag)
		s.Started++
		s.Active++
		if id != "" {
			s.ids[id]++
			if s.ids[id] > 1 {
				s.Replayed++
			}
		}
		statsMu.Unlock()
		defer func() {
			cancelled := r.Context().Err() != nil
			statsMu.Lock()
			s.Active--
			s.Ended++
			if cancelled {
				s.Cancelled++
			}
			statsMu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

func serveStats(w http.ResponseWriter, r *http.Request) {
	tag := r.URL.Query().Get("tag")
	statsMu.Lock()
	s := *statsFor(tag)
	if r.URL.Query().Get("forget") == "1" {
		delete(stats, tag)
	}
	statsMu.Unlock()
	answer := struct {
		tagStats
		CPUSeconds float64 `json:"cpu_seconds"`
	}{tagStats: s, CPUSeconds: processCPUSeconds()}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

// processCPUSeconds is the user + system CPU time of this process (0 if the
// system does not say).
func processCPUSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	seconds := func(t syscall.Timeval) float64 {
		return float64(t.Sec) + float64(t.Usec)/1e6
	}
	return seconds(usage.Utime) + seconds(usage.Stime)
}
