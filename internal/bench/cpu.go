package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// clockTicks is the unit of the CPU times in /proc (sysconf(_SC_CLK_TCK)), 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// CPUShare is how busy the machine's cores were over a step, and who kept them busy, in cores (1.0
// is one core busy for the whole step).
type CPUShare struct {
	Cores     int                `json:"cores"`
	Busy      float64            `json:"busy"`      // all processes
	Processes map[string]float64 `json:"processes"` // the load generator (bench) and the services
	// Rest is Busy less Processes: PostgreSQL's backends, mostly, and the kernel's own work.
	Rest float64 `json:"rest"`
	// Pressure is the share of the step in which at least one runnable task waited for a core (the
	// kernel's pressure stall information, "some" line of /proc/pressure/cpu); nil where the kernel
	// keeps none. Latency tails on a shared machine follow it: a request's hops between the load
	// generator, a service and PostgreSQL each wait their turn.
	Pressure *float64 `json:"pressure,omitempty"`
}

// cpuMeter measures a CPUShare between its start and Stop.
type cpuMeter struct {
	start    time.Time
	machine  machineCPU
	pids     map[string]int
	procs    map[string]float64 // CPU seconds at the start
	stalled  time.Duration      // PSI's "some" total at the start; -1 where the kernel keeps none
	failures []error
}

// startCPU starts measuring the machine and the processes named in pids.
func startCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{start: time.Now(), pids: pids, procs: map[string]float64{}, stalled: cpuStalled()}
	var err error
	if m.machine, err = readMachineCPU(); err != nil {
		m.failures = append(m.failures, err)
	}
	for name, pid := range pids {
		s, err := processCPUSeconds(pid)
		if err != nil {
			m.failures = append(m.failures, fmt.Errorf("%s: %w", name, err))
		}
		m.procs[name] = s
	}
	return m
}

// Stop returns the share since the start.
func (m *cpuMeter) Stop() (*CPUShare, error) {
	wall := time.Since(m.start).Seconds()
	end, err := readMachineCPU()
	if err != nil {
		m.failures = append(m.failures, err)
	}
	share := &CPUShare{Cores: end.cores, Processes: map[string]float64{}}
	share.Busy = round((end.busy-m.machine.busy)/wall, 2)
	rest := share.Busy
	for name, pid := range m.pids {
		s, err := processCPUSeconds(pid)
		if err != nil {
			m.failures = append(m.failures, fmt.Errorf("%s: %w", name, err))
			continue
		}
		share.Processes[name] = round((s-m.procs[name])/wall, 2)
		rest -= share.Processes[name]
	}
	share.Rest = round(max(rest, 0), 2)
	if end := cpuStalled(); end >= 0 && m.stalled >= 0 {
		p := round((end-m.stalled).Seconds()/wall, 3)
		share.Pressure = &p
	}
	return share, errors.Join(m.failures...)
}

// cpuStalled is the time, since boot, in which at least one runnable task waited for a core; -1
// where the kernel does not keep it (no CONFIG_PSI, or psi=0).
func cpuStalled() time.Duration {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return -1
	}
	st, err := fs.PSIStatsForResource("cpu")
	if err != nil || st.Some == nil {
		return -1
	}
	return time.Duration(st.Some.Total) * time.Microsecond
}

// machineCPU is the first line of /proc/stat: CPU seconds spent busy since boot, over all cores.
type machineCPU struct {
	busy  float64
	cores int
}

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseProcStat(b)
}

// parseProcStat reads the "cpu" line (user nice system idle iowait irq softirq steal ...) and counts
// the "cpuN" lines.
func parseProcStat(b []byte) (machineCPU, error) {
	var m machineCPU
	found := false
	for line := range bytes.Lines(b) {
		fields := strings.Fields(string(line))
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			m.cores++
			continue
		}
		if len(fields) < 9 {
			return machineCPU{}, fmt.Errorf("/proc/stat: short cpu line %q", line)
		}
		for i, f := range fields[1:9] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return machineCPU{}, fmt.Errorf("/proc/stat: %q: %w", f, err)
			}
			m.busy += n / clockTicks
		}
		found = true
	}
	if !found {
		return machineCPU{}, errors.New("/proc/stat: no cpu line")
	}
	return m, nil
}

// processCPUSeconds reads the user and system CPU time of process pid, its threads included.
func processCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parsePIDStat(b)
}

// parsePIDStat reads utime and stime, fields 14 and 15 of /proc/PID/stat. The command name (field
// 2) is in parentheses and may hold spaces and parentheses itself, so fields are counted after the
// last ')'.
func parsePIDStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", b)
	}
	fields := strings.Fields(string(b[i+1:])) // from field 3 (state)
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the name", len(fields))
	}
	var total float64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %q: %w", f, err)
		}
		total += n / clockTicks
	}
	return total, nil
}
