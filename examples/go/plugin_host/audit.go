package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// record is one audit record (one JSON line of the daemon's log).
type record map[string]any

func (r record) str(k string) string {
	if v, ok := r[k]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// Type is the record's type, e.g. "capability.use".
func (r record) Type() string { return r.str("type") }

// PluginID is the id of the plugin the record is about ("" for daemon records).
func (r record) PluginID() string {
	if p, ok := r["plugin"].(map[string]any); ok {
		return fmt.Sprint(p["id"])
	}
	return ""
}

// summaryKeys are the detail fields worth a line in the walk-through; the chain fields (prev,
// hash), timestamps and resource figures stay in the log.
var summaryKeys = []string{
	"decision", "capability", "target", "resolved", "code", "reason", "quota", "limit", "observed", "action",
	"violation", "syscall", "exit_code", "signal_name", "detail", "method", "peer_uid",
}

// summary keeps a record's seq, type, plugin and the detail fields that explain it.
func (r record) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%s %s", r.str("seq"), r.Type())
	if id := r.PluginID(); id != "" {
		fmt.Fprintf(&b, " [%s]", id)
	}
	for _, k := range summaryKeys {
		if v := r.str(k); v != "" {
			if strings.ContainsAny(v, " =") {
				v = fmt.Sprintf("%q", v)
			}
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	return b.String()
}

// summarise gives one line per record, except that a plugin's start-up (plugin.load, .spawn,
// .probe, .configure, .ready: each a record of its own in the log) takes one line.
func summarise(recs []record) []string {
	var out []string
	for i := 0; i < len(recs); i++ {
		j := i
		for j < len(recs) && isStartup(recs[j]) && recs[j].PluginID() == recs[i].PluginID() {
			j++
		}
		if j-i < 2 {
			out = append(out, recs[i].summary())
			continue
		}
		types := make([]string, 0, j-i)
		for _, r := range recs[i:j] {
			types = append(types, r.Type())
		}
		out = append(out, fmt.Sprintf("#%s..#%s %s [%s]", recs[i].str("seq"), recs[j-1].str("seq"),
			strings.Join(types, " > "), recs[i].PluginID()))
		i = j - 1
	}
	return out
}

func isStartup(r record) bool {
	switch r.Type() {
	case "plugin.load", "plugin.spawn", "plugin.probe", "plugin.configure", "plugin.ready":
		return true
	}
	return false
}

// auditTail reads the records a daemon appends to its JSON Lines audit log.
type auditTail struct {
	path   string
	offset int64
	// The daemon's plugin ids ("p1") are not the audit log's ("wordcount-<pid>-<n>"); the
	// plugin.spawn record links the audit id to the sandbox's host pid, which both know.
	auditIDs map[int]string
}

// exitOf matches the plugin.exit record of the sandbox with host pid pid.
func (t *auditTail) exitOf(pid int) func(record) bool {
	return func(r record) bool {
		id, ok := t.auditIDs[pid]
		return ok && r.Type() == "plugin.exit" && r.PluginID() == id
	}
}

// newAuditTail starts at the log's current end: only records written from now on are read.
func newAuditTail(path string) *auditTail {
	t := &auditTail{path: path, auditIDs: map[int]string{}}
	if st, err := os.Stat(path); path != "" && err == nil {
		t.offset = st.Size()
	}
	return t
}

// read returns the records appended since the last read. With until, it keeps reading (polling
// the file, which the daemon appends to from another process) until a record matches or
// timeout passes, and reports whether one matched. With no log (a daemon started elsewhere, no -audit-log) it returns nothing and true.
func (t *auditTail) read(until func(record) bool, timeout time.Duration) ([]record, bool) {
	if t.path == "" {
		return nil, true
	}
	var out []record
	deadline := time.Now().Add(timeout)
	for {
		recs := t.readOnce()
		out = append(out, recs...)
		if until == nil {
			return out, true
		}
		for _, r := range recs {
			if until(r) {
				return out, true
			}
		}
		if time.Now().After(deadline) {
			return out, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (t *auditTail) readOnce() []record {
	f, err := os.Open(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return nil
	}
	var out []record
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		t.offset += int64(len(line))
		var rec record
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if pid, ok := rec["host_pid"].(float64); ok && rec.Type() == "plugin.spawn" {
			t.auditIDs[int(pid)] = rec.PluginID()
		}
		out = append(out, rec)
	}
	return out
}
