package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	for _, tt := range []struct {
		name      string
		stat      string
		wantBusy  float64
		wantCores int
		wantErr   bool
	}{
		{name: "two cores",
			// user nice system idle iowait irq softirq steal: busy = 100+0+50+0+10+5+1 ticks
			stat:     "cpu  100 0 50 9000 300 0 10 5 0 0\ncpu0 50 0 25 4500 150 0 5 2 0 0\ncpu1 50 0 25 4500 150 0 5 3 0 0\nintr 1 2 3\n",
			wantBusy: 1.65, wantCores: 2},
		{name: "no cpu line", stat: "intr 1 2 3\n", wantErr: true},
		{name: "short cpu line", stat: "cpu 1 2 3\n", wantErr: true},
		{name: "not a number", stat: "cpu 1 x 3 4 5 6 7 8\n", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseProcStat([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (round(m.busy, 2) != tt.wantBusy || m.cores != tt.wantCores) {
				t.Errorf("busy %v s on %d cores, want %v on %d", m.busy, m.cores, tt.wantBusy, tt.wantCores)
			}
		})
	}
}

func TestParsePIDStat(t *testing.T) {
	for _, tt := range []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{name: "plain", stat: "1234 (query-api) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 9 0 100 0 0", want: 3.8},
		// A name may hold spaces and parentheses: fields count from the last ')'.
		{name: "odd name", stat: "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 500 0 0 0 7 3 0 0 20 0 9 0 100 0 0", want: 0.1},
		{name: "truncated", stat: "1234 (x) S 1 2 3", wantErr: true},
		{name: "no name", stat: "1234 S 1 2 3", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePIDStat([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && round(got, 2) != tt.want {
				t.Errorf("%v s, want %v", got, tt.want)
			}
		})
	}
}

// TestCPUMeter: CPU this process spends shows up as its share, within the machine's busy share.
func TestCPUMeter(t *testing.T) {
	self := os.Getpid()
	before, err := processCPUSeconds(self)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m := startCPU(map[string]int{"bench": self})
	// Spin until the kernel has counted 0.2 s of CPU for this process, however loaded the machine.
	for deadline := time.Now().Add(20 * time.Second); ; {
		now, err := processCPUSeconds(self)
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 0.2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("0.2 s of CPU not counted in 20 s")
		}
	}
	share, err := m.Stop()
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start).Seconds()
	tick := 3.0 / clockTicks / wall // the counters' resolution, as a share of the wall time
	if got := share.Processes["bench"] * wall; got < 0.15 || share.Processes["bench"] > share.Busy+tick || share.Cores < 1 {
		t.Errorf("%+v over %.2f s: want this process's 0.2 s of CPU within the busy", share, wall)
	}
	if _, err := os.Stat("/proc/pressure/cpu"); err != nil {
		return // a kernel without pressure stall information: none to report
	}
	if p := share.Pressure; p == nil || *p < 0 || *p > 1.01 {
		t.Errorf("pressure %v, want a share of the step from /proc/pressure/cpu", p)
	}
}
