package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDistributedUsageErrors: the distributed flags that cannot work are usage errors
// (exit 2, one line) found before connecting: every case names a server on port 1,
// where a connection would fail with exit 1 instead. No line repeats a password given
// in a -nats URL.
func TestDistributedUsageErrors(t *testing.T) {
	const dead = "nats://127.0.0.1:1"
	// A checkpoint directory of the test's own: a case that wrongly trains writes there.
	x := t.TempDir()
	worker := func(extra ...string) []string {
		return append([]string{"worker", "-nats", dead, "-run", "r", "-nodes", "0-1"}, extra...)
	}
	remote := func(extra ...string) []string {
		return trainArgs("pc", x, append([]string{"-nats", dead, "-run", "r", "-placement", "0-1,2-3", "-run-key-env", "K"}, extra...)...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"timeout 1ns with workers", trainArgs("pc", x, "-workers", "2", "-timeout", "1ns"), "-timeout: must be at least 10ms, got 1ns"},
		{"timeout 9ms on a worker", worker("-timeout", "9ms"), "-timeout: must be at least 10ms, got 9ms"},
		{"negative workers", trainArgs("pc", x, "-workers", "-1"), "-workers: must be >= 0, got -1"},
		{"negative workers in compare", []string{"compare", "-hidden", "2", "-workers", "-3"}, "-workers: must be >= 0, got -3"},
		{"bad run on a worker", []string{"worker", "-nats", dead, "-run", "a.b", "-nodes", "0-1"}, `-run: run ID "a.b": character '.' is not one of A-Z a-z 0-9 _ -`},
		{"bad run on a coordinator", trainArgs("pc", x, "-nats", dead, "-run", "a>b", "-placement", "0-1,2-3"), `-run: run ID "a>b"`},
		{"long run", []string{"worker", "-nats", dead, "-run", "r123456789012345678901234567890123456789012345", "-nodes", "0-1"}, "must be 1 to 44 characters"},
		{"cert without key", worker("-nats-cert", "c.pem"), "-nats-cert needs -nats-key"},
		{"key without cert", remote("-nats-key", "c.key"), "-nats-key needs -nats-cert"},
		{"password in the worker's URL", []string{"worker", "-nats", "nats://pc:s3cret@127.0.0.1:1", "-run", "r", "-nodes", "0-1"}, "give the user with -nats-user and the password with -nats-password-file"},
		{"password in the coordinator's URL", trainArgs("pc", x, "-nats", "nats://127.0.0.1:2,nats://pc:s3cret@127.0.0.1:1", "-run", "r", "-placement", "0-1,2-3", "-run-key-env", "K"), "give the user with -nats-user and the password with -nats-password-file"},
		{"token in the URL", worker("-nats", "nats://s3cret@127.0.0.1:1"), "-nats-user"},
		{"unparsable URL", worker("-nats", "nats://pc:s3cret@[::1"), "-nats: server URL 1 of the list is not a URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pcnetRun(t, tc.args...)
			require.Equal(t, 2, r.code, "stdout %s\nstderr %s", r.stdout, r.stderr)
			require.Contains(t, oneLine(t, r), tc.want)
			require.NotContains(t, r.stdout+r.stderr, "s3cret", "a secret is never printed")
		})
	}
}
