package natslink

import (
	"strconv"
	"strings"
)

// Subject is the subject pcnet.<run>.<token>.<token>...: every subject of a run, its
// links' (here) and its commands, reports, heartbeats, claims and inboxes (package
// cluster, cmd/pcnet), is made by this one function, so that each lies under
// pcnet.<run>.> and a server can confine a run's users to that one pattern
// (docs/distributed.md, "Threat model"; docs/design.md §9).
func Subject(run string, tokens ...string) string {
	var b strings.Builder
	b.WriteString("pcnet.")
	b.WriteString(run)
	for _, t := range tokens {
		b.WriteByte('.')
		b.WriteString(t)
	}
	return b.String()
}

// subjects of a direction: data, credits, hellos, under pcnet.<run>.link.<id>.<dir>, id
// the link's edge id (docs/design.md §11): the lower node l of a chain link l -> l+1, as
// before graphs, and H+1+k for long skip k, so that a skip between two processes is a
// link of its own like any other. A setup's links (Options.Setup > 0)
// have subjects of their own, pcnet.<run>.setup.<n>.link..., so that nothing of an
// earlier setup's links (a late credit) reaches a later one's.
func subjects(e endpoint) (data, credit, hello string) {
	var link []string
	if e.setup > 0 {
		link = append(link, "setup", strconv.Itoa(e.setup))
	}
	link = append(link, "link", strconv.FormatUint(uint64(e.lower), 10), e.dir.String())
	data = Subject(e.runID, link...)
	return data, data + ".credit", data + ".hello"
}
