package render

import "text/template/parse"

// settingReads collects which settings a template reads, from its parse tree: `.Settings.x`,
// `$.Settings.x` and `index .Settings "x"` read x; any other use of .Settings (with, range,
// index with a computed key, passing it on) or of the whole root data (`$`, or `.` where dot is
// the root) may read every setting.
type settingReads struct {
	names map[string]bool
	all   bool
}

func (r *settingReads) walk(n parse.Node, dotIsRoot bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			r.walk(c, dotIsRoot)
		}
	case *parse.ActionNode:
		r.walk(n.Pipe, dotIsRoot)
	case *parse.IfNode:
		r.branch(&n.BranchNode, dotIsRoot, dotIsRoot)
	case *parse.RangeNode:
		r.branch(&n.BranchNode, dotIsRoot, false)
	case *parse.WithNode:
		r.branch(&n.BranchNode, dotIsRoot, false)
	case *parse.TemplateNode:
		r.walk(n.Pipe, dotIsRoot)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			r.command(c, dotIsRoot)
		}
	case *parse.ChainNode:
		r.walk(n.Node, dotIsRoot)
	case *parse.FieldNode:
		if dotIsRoot {
			r.path(n.Ident)
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			r.path(n.Ident[1:])
		}
	case *parse.DotNode:
		if dotIsRoot {
			r.all = true
		}
	}
}

// branch walks if/range/with: the pipeline with the enclosing dot, the body with dot rebound
// (range, with) or not (if); else runs with the enclosing dot.
func (r *settingReads) branch(b *parse.BranchNode, dotIsRoot, bodyDotIsRoot bool) {
	r.walk(b.Pipe, dotIsRoot)
	r.walk(b.List, bodyDotIsRoot)
	r.walk(b.ElseList, dotIsRoot)
}

func (r *settingReads) command(c *parse.CommandNode, dotIsRoot bool) {
	// index .Settings "name" reads just name.
	if len(c.Args) == 3 {
		if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "index" {
			if key, ok := c.Args[2].(*parse.StringNode); ok && r.isSettings(c.Args[1], dotIsRoot) {
				r.names[key.Text] = true
				return
			}
		}
	}
	for _, a := range c.Args {
		r.walk(a, dotIsRoot)
	}
}

func (r *settingReads) isSettings(n parse.Node, dotIsRoot bool) bool {
	switch n := n.(type) {
	case *parse.FieldNode:
		return dotIsRoot && len(n.Ident) == 1 && n.Ident[0] == "Settings"
	case *parse.VariableNode:
		return len(n.Ident) == 2 && n.Ident[0] == "$" && n.Ident[1] == "Settings"
	}
	return false
}

// path records a field path from the root data: Settings.x reads x, Settings alone or the
// root itself reads everything.
func (r *settingReads) path(ident []string) {
	switch {
	case len(ident) == 0:
		r.all = true
	case ident[0] != "Settings":
	case len(ident) == 1:
		r.all = true
	default:
		r.names[ident[1]] = true
	}
}
