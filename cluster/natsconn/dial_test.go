package natsconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"
)

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(file, []byte("s3cret\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	t.Setenv("PCNET_TEST_SECRET", "from-env")
	t.Setenv("PCNET_TEST_EMPTY", "")
	tests := []struct {
		name    string
		s       Secret
		want    string
		wantErr string
	}{
		{"value", Secret{Value: "v"}, "v", ""},
		{"file", Secret{File: file}, "s3cret", ""},
		{"env", Secret{Env: "PCNET_TEST_SECRET"}, "from-env", ""},
		{"unset", Secret{}, "", "natsconn: token: no value, file or environment variable given"},
		{"two", Secret{Value: "v", Env: "PCNET_TEST_SECRET"}, "", "natsconn: token: give one of a value, a file or an environment variable, not 2"},
		{"missing file", Secret{File: filepath.Join(dir, "nope")}, "", "no such file"},
		{"empty file", Secret{File: empty}, "", "is empty"},
		{"empty env", Secret{Env: "PCNET_TEST_EMPTY"}, "", "natsconn: token: environment variable PCNET_TEST_EMPTY is not set or empty"},
		{"unset env", Secret{Env: "PCNET_TEST_UNSET_123"}, "", "is not set or empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Resolve("token")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// startRaw starts a nats-server with opts on 127.0.0.1 for the test.
func startRaw(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second))
	return s.ClientURL()
}

func dialCheck(t *testing.T, o ClientOptions) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := Dial(ctx, o)
	if err != nil {
		return err
	}
	defer nc.Close()
	return nc.Flush()
}

func TestDialToken(t *testing.T) {
	srv := startServer(t, Server{})
	require.Len(t, srv.Token, 32)
	require.Regexp(t, `^nats://127\.0\.0\.1:\d+$`, srv.URL)
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(srv.Token+"\n"), 0o600))
	t.Setenv("PCNET_TEST_TOKEN", srv.Token)

	require.NoError(t, dialCheck(t, ClientOptions{URL: srv.URL, Token: Secret{File: file}}))
	require.NoError(t, dialCheck(t, ClientOptions{URL: srv.URL, Token: Secret{Env: "PCNET_TEST_TOKEN"}}))
	require.ErrorContains(t, dialCheck(t, ClientOptions{URL: srv.URL}), "natsconn: connect to nats://127.0.0.1:", "the token is required")
	require.ErrorContains(t, dialCheck(t, ClientOptions{URL: srv.URL, Token: Secret{Value: "wrong"}}), "Authorization Violation")

	again := startServer(t, Server{})
	require.NotEqual(t, srv.Token, again.Token, "a token per start")
	require.ErrorContains(t, dialCheck(t, ClientOptions{URL: again.URL, Token: Secret{Value: srv.Token}}), "Authorization Violation")
}

func TestDialOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		o    ClientOptions
		want string
	}{
		{"no url", ClientOptions{}, "natsconn: no NATS server URL"},
		{"two auths", ClientOptions{URL: "nats://127.0.0.1:1", Token: Secret{Value: "t"}, User: "u", Password: Secret{Value: "p"}}, "2 ways to authenticate"},
		{"password without user", ClientOptions{URL: "nats://127.0.0.1:1", Password: Secret{Value: "p"}}, "a NATS password without a user"},
		{"user without password", ClientOptions{URL: "nats://127.0.0.1:1", User: "u"}, "NATS password of user u: no value"},
		{"cert without key", ClientOptions{URL: "nats://127.0.0.1:1", CertFile: "c.pem"}, "needs both a cert file and a key file"},
		{"missing creds", ClientOptions{URL: "nats://127.0.0.1:1", CredsFile: "/nonexistent/x.creds"}, "natsconn: creds file:"},
		{"missing seed", ClientOptions{URL: "nats://127.0.0.1:1", NKeySeedFile: "/nonexistent/seed"}, "natsconn: nkey seed file /nonexistent/seed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, dialCheck(t, tc.o), tc.want)
		})
	}
}

func TestDialUserPassword(t *testing.T) {
	url := startRaw(t, &server.Options{Users: []*server.User{{Username: "pc", Password: "pw"}}})
	file := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(file, []byte("pw"), 0o600))
	require.NoError(t, dialCheck(t, ClientOptions{URL: url, User: "pc", Password: Secret{File: file}}))
	require.ErrorContains(t, dialCheck(t, ClientOptions{URL: url, User: "pc", Password: Secret{Value: "nope"}}), "Authorization Violation")
}

func TestDialNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := user.PublicKey()
	require.NoError(t, err)
	seed, err := user.Seed()
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "user.nk")
	require.NoError(t, os.WriteFile(file, seed, 0o600))
	url := startRaw(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	require.NoError(t, dialCheck(t, ClientOptions{URL: url, NKeySeedFile: file}))
	require.Error(t, dialCheck(t, ClientOptions{URL: url}))
}

// TestDialTLS: a server that requires TLS and a client certificate, both
// signed by a test CA; the client trusts the CA.
func TestDialTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, dir, "ca", nil, nil)
	newCert(t, dir, "server", ca, caKey)
	newCert(t, dir, "client", ca, caKey)
	p := func(name string) string { return filepath.Join(dir, name) }
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p("server.pem"), KeyFile: p("server.key"), CaFile: p("ca.pem"), Verify: true})
	require.NoError(t, err)
	url := startRaw(t, &server.Options{TLSConfig: tc, TLSVerify: true, TLSTimeout: 5})
	require.NoError(t, dialCheck(t, ClientOptions{URL: url, CAFile: p("ca.pem"), CertFile: p("client.pem"), KeyFile: p("client.key")}))
	require.Error(t, dialCheck(t, ClientOptions{URL: url, CAFile: p("ca.pem")}), "no client certificate")
	require.Error(t, dialCheck(t, ClientOptions{URL: url}), "no TLS")
}

// newCert writes name.pem and name.key into dir: a CA when parent is nil,
// else a certificate for 127.0.0.1 signed by parent.
func newCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "pcnet test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, key
}
