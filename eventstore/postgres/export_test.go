package postgres

// HoldGroupCommit occupies every free group-commit slot of s, so that appends queue until release
// is called; queued tells how many wait.
func HoldGroupCommit(s *Store) (queued func() int, release func()) {
	g := s.group
	g.mu.Lock()
	held := g.slots - g.running
	g.running = g.slots
	g.mu.Unlock()
	queued = func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.queue)
	}
	release = func() {
		for range held {
			g.release()
		}
	}
	return queued, release
}

// PageCap exposes pageCap.
var PageCap = pageCap
