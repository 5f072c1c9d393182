package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Units of a side's values.
const (
	unitSeconds = "s"
	unitBytes   = "B"
)

// side is one measured subject of a row: graft, or a peer.
type side struct {
	Name   string             `json:"name"`
	Status string             `json:"status"` // "ok", "waiting: …", "peer missing: …", "failed: …"
	Unit   string             `json:"unit,omitempty"`
	Values []float64          `json:"values,omitempty"`
	Median float64            `json:"median,omitempty"`
	Extra  map[string]float64 `json:"extra,omitempty"` // e.g. bytes_uploaded (median over runs)
	// RequestMix is the requests of the last run to the bench's servers by kind.
	RequestMix string `json:"request_mix,omitempty"`
}

// row is one line (or, with several peers, lines) of the table.
type row struct {
	Scenario string   `json:"scenario"`
	Graft    *side    `json:"graft"`
	Peers    []*side  `json:"peers"`
	Target   string   `json:"target,omitempty"`
	Met      *bool    `json:"met,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

func okSide(name, unit string, values []float64) *side {
	return &side{Name: name, Status: "ok", Unit: unit, Values: values, Median: median(values)}
}

func statusSide(name, status string) *side { return &side{Name: name, Status: status} }

func failedSide(name string, err error) *side {
	return &side{Name: name, Status: "failed: " + oneLine(err.Error(), 160)}
}

func (s *side) ok() bool { return s != nil && s.Status == "ok" }

// setExtra records the median of per-run values under key.
func (s *side) setExtra(key string, values []float64) {
	if s.Extra == nil {
		s.Extra = map[string]float64{}
	}
	s.Extra[key] = median(values)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// cell renders a side for the table.
func (s *side) cell() string {
	if s == nil {
		return ""
	}
	if !s.ok() {
		return s.Status
	}
	out := formatValue(s.Median, s.Unit)
	if up, ok := s.Extra["bytes_uploaded"]; ok {
		out += fmt.Sprintf(", %s uploaded", formatValue(up, unitBytes))
	}
	if n, ok := s.Extra["mounts"]; ok && n > 0 {
		out += fmt.Sprintf(" (%.0f blobs mounted)", n)
	}
	if down, ok := s.Extra["bytes_downloaded"]; ok {
		out += fmt.Sprintf(", %s downloaded", formatValue(down, unitBytes))
	}
	if n := s.netCell(); n != "" {
		out += ", " + n
	}
	if cpu, ok := s.Extra["cpu_s"]; ok {
		out += fmt.Sprintf(" (CPU %s, %.0f page faults)", formatValue(cpu, unitSeconds), s.Extra["page_faults"])
	}
	if rss, ok := s.Extra["peak_rss"]; ok && s.Unit != unitBytes {
		out += fmt.Sprintf(", peak RSS %s", formatValue(rss, unitBytes))
	}
	if wall, ok := s.Extra["wall_s"]; ok {
		out += fmt.Sprintf(" (in %s)", formatValue(wall, unitSeconds))
	}
	if mbs, ok := s.Extra["mb_per_s"]; ok {
		out += fmt.Sprintf(" (%.0f MB/s)", mbs)
	}
	return out
}

func formatValue(v float64, unit string) string {
	switch unit {
	case unitSeconds:
		switch {
		case v < 0.01:
			return fmt.Sprintf("%.2f ms", v*1000)
		case v < 1:
			return fmt.Sprintf("%.0f ms", v*1000)
		default:
			return fmt.Sprintf("%.2f s", v)
		}
	case unitBytes:
		switch {
		case v >= 1<<20:
			return fmt.Sprintf("%.1f MB", v/(1<<20))
		case v >= 1<<10:
			return fmt.Sprintf("%.0f KB", v/(1<<10))
		default:
			return fmt.Sprintf("%.0f B", v)
		}
	}
	return fmt.Sprintf("%g", v)
}

// ratio is graft's median over the peer's, when both were measured.
func ratio(g, p *side) string {
	if !g.ok() || !p.ok() || p.Median == 0 || g.Unit != p.Unit {
		return "–"
	}
	return fmt.Sprintf("%.2f×", g.Median/p.Median)
}

func (r *row) metCell() string {
	if r.Met == nil {
		return "–"
	}
	if *r.Met {
		return "met"
	}
	return "**missed**"
}

func boolPtr(b bool) *bool { return &b }

// formatTable renders rows as a Markdown table, one line per peer, then the notes.
func formatTable(rows []*row) string {
	var b strings.Builder
	b.WriteString("| scenario | graft | peer | peer's result | graft/peer | target | |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		peers := r.Peers
		if len(peers) == 0 {
			peers = []*side{nil}
		}
		for i, p := range peers {
			scen, g, target, met := r.Scenario, r.Graft.cell(), r.Target, r.metCell()
			if i > 0 {
				scen, g, target, met = "", "", "", ""
			}
			name, res, rat := "", "", ""
			if p != nil {
				name, res, rat = p.Name, p.cell(), ratio(r.Graft, p)
			}
			cells := []string{scen, g, name, res, rat, target, met}
			for c := range cells {
				cells[c] = strings.ReplaceAll(cells[c], "|", `\|`)
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	var notes []string
	for _, r := range rows {
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.Scenario, n))
		}
		// Where graft misses, where its round trips went.
		if r.Met != nil && !*r.Met && r.Graft.RequestMix != "" {
			notes = append(notes, fmt.Sprintf("- %s: graft's requests by kind (last run): %s", r.Scenario, r.Graft.RequestMix))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

// oneLine squeezes text (say, a command's stderr) into one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
