package tuning

import "strings"

// cmdline is a parsed kernel command line.
type cmdline struct {
	raw    string            // the kernel's part, up to a lone "--"
	init   bool              // arguments for init followed "--" (not shown)
	params map[string]string // name (dashes as underscores) → last value; "" for a bare flag
}

// parseCmdline splits s the way the kernel does: white space separates
// parameters, double quotes protect spaces in values, and everything after a
// lone "--" belongs to init. Dashes and underscores in a name are the same
// character to the kernel, so names are stored with underscores.
func parseCmdline(s string) *cmdline {
	c := &cmdline{raw: strings.TrimSpace(s), params: map[string]string{}}
	var tok strings.Builder
	inQuote := false
	start := 0 // byte offset of the token being built
	flush := func(end int) bool {
		t := tok.String()
		tok.Reset()
		if t == "" {
			return true
		}
		if t == "--" && !strings.Contains(s[start:end], `"`) {
			c.raw = strings.TrimSpace(s[:start])
			c.init = strings.TrimSpace(s[end:]) != ""
			return false
		}
		name, val, _ := strings.Cut(t, "=")
		c.params[strings.ReplaceAll(name, "-", "_")] = val
		return true
	}
	for i, r := range s {
		switch {
		case r == '"':
			if tok.Len() == 0 && !inQuote {
				start = i
			}
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if !flush(i) {
				return c
			}
		default:
			if tok.Len() == 0 && !inQuote {
				start = i
			}
			tok.WriteRune(r)
		}
	}
	flush(len(s))
	return c
}

// get returns the value of parameter name and whether it is present.
func (c *cmdline) get(name string) (string, bool) {
	if c == nil {
		return "", false
	}
	v, ok := c.params[name]
	return v, ok
}

// param formats a parameter for evidence: "name=value", "name" or
// "no name= parameter".
func (c *cmdline) param(name string) string {
	v, ok := c.get(name)
	switch {
	case !ok:
		return "no " + name + "= on the command line"
	case v == "":
		return name
	}
	return name + "=" + v
}

// isolcpusFlags splits an isolcpus= value into its flags and CPU list:
// "managed_irq,domain,2-7" → ["managed_irq" "domain"], "2-7".
func isolcpusFlags(v string) (flags []string, list string) {
	parts := strings.Split(v, ",")
	i := 0
	for i < len(parts) && parts[i] != "" && (parts[i][0] < '0' || parts[i][0] > '9') {
		flags = append(flags, parts[i])
		i++
	}
	return flags, strings.Join(parts[i:], ",")
}
