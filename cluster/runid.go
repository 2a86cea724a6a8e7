package cluster

// MaxRunID is the longest run ID a coordinator and its workers take (checked with
// natslink.CheckRun): the links' subjects add a setup number to it, within natslink's
// 64 characters. A command checks -run against it before it connects.
const MaxRunID = maxRun
