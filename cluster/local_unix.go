//go:build unix

package cluster

import (
	"os/exec"
	"syscall"
)

// ownGroup puts a worker in a process group of its own, so that a Ctrl-C at the
// terminal reaches the coordinator alone: it stops after the batch, fetches the
// workers' weights for the checkpoint, and then stops them.
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}
