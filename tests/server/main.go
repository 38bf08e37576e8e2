// Command testserver serves connectpy.testing.v1.TestService for the Python
// test suite.
//
// It listens on 127.0.0.1 ephemeral ports:
//   - "http":     plaintext, HTTP/1.1 and HTTP/2 with prior knowledge (h2c)
//   - "https":    TLS, ALPN h2 and http/1.1
//   - "https_h1": TLS, ALPN http/1.1 only
//   - with -client-ca FILE, also "https_mtls" (ALPN h2 and http/1.1) and
//     "https_mtls_h1" (ALPN http/1.1 only), which require a client certificate
//     issued by a CA in FILE
//
// It writes a self-signed certificate (SAN 127.0.0.1, ::1, localhost) to a PEM
// file, prints one JSON line to stdout with the base URLs and that file's path,
// and runs until stdin reaches EOF, SIGTERM or SIGINT.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"connectpy/testserver/gen/testingv1/testingv1connect"
)

func main() {
	certDir := flag.String("cert-dir", "", "directory for the certificate PEM (default: a new temporary directory, removed on exit)")
	clientCA := flag.String("client-ca", "", "PEM file of the CAs whose client certificates the mTLS ports accept (no mTLS ports without it)")
	flag.Parse()
	log.SetPrefix("testserver: ")

	dir := *certDir
	removeDir := false
	if dir == "" {
		d, err := os.MkdirTemp("", "connectpy-testserver-")
		if err != nil {
			log.Fatal(err)
		}
		dir, removeDir = d, true
	}
	cert, pemPath, err := selfSigned(dir)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle(testingv1connect.NewTestServiceHandler(testService{}, compressionOptions()...))
	handler := statsMiddleware(rawMiddleware(mux))

	plainProtos := new(http.Protocols)
	plainProtos.SetHTTP1(true)
	plainProtos.SetUnencryptedHTTP2(true)
	tlsProtos := new(http.Protocols)
	tlsProtos.SetHTTP1(true)
	tlsProtos.SetHTTP2(true)
	h1Protos := new(http.Protocols)
	h1Protos.SetHTTP1(true)

	out := map[string]string{"ca_pem": pemPath}
	var servers []*http.Server
	type listener struct {
		name   string
		protos *http.Protocols
		tls    bool
		mtls   bool
	}
	specs := []listener{
		{"http", plainProtos, false, false},
		{"https", tlsProtos, true, false},
		{"https_h1", h1Protos, true, false},
	}
	var clientCAs *x509.CertPool
	if *clientCA != "" {
		data, err := os.ReadFile(*clientCA)
		if err != nil {
			log.Fatal(err)
		}
		clientCAs = x509.NewCertPool()
		if !clientCAs.AppendCertsFromPEM(data) {
			log.Fatalf("no certificate in %s", *clientCA)
		}
		specs = append(specs, listener{"https_mtls", tlsProtos, true, true}, listener{"https_mtls_h1", h1Protos, true, true})
	}
	for _, spec := range specs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		srv := &http.Server{
			Handler:           handler,
			Protocols:         spec.protos,
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          log.New(os.Stderr, "testserver["+spec.name+"]: ", 0),
		}
		scheme := "http"
		if spec.tls {
			scheme = "https"
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			if spec.mtls {
				srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
				srv.TLSConfig.ClientCAs = clientCAs
			}
			go func() { serve(srv.ServeTLS(ln, "", "")) }()
		} else {
			go func() { serve(srv.Serve(ln)) }()
		}
		servers = append(servers, srv)
		out[spec.name] = fmt.Sprintf("%s://%s", scheme, ln.Addr())
	}
	// "uds": the plaintext handler (HTTP/1.1 and h2c) on a Unix domain socket.
	udsPath := filepath.Join(dir, "testserver.sock")
	os.Remove(udsPath)
	udsLn, err := net.Listen("unix", udsPath)
	if err != nil {
		log.Fatal(err)
	}
	udsSrv := &http.Server{
		Handler:           handler,
		Protocols:         plainProtos,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(os.Stderr, "testserver[uds]: ", 0),
	}
	go func() { serve(udsSrv.Serve(udsLn)) }()
	servers = append(servers, udsSrv)
	out["uds"] = udsPath

	line, err := json.Marshal(out)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(line))

	done := make(chan string, 2)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		done <- "stdin closed"
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { done <- (<-signals).String() }()
	<-done

	for _, srv := range servers {
		srv.Close()
	}
	if removeDir {
		os.RemoveAll(dir)
	}
}

// serve is called with the result of a blocking Serve call, so it runs in
// its own goroutine; anything but a normal close is fatal.
func serve(err error) {
	if err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// selfSigned creates a CA-capable self-signed certificate for loopback and
// writes it as PEM to dir/ca.pem.
func selfSigned(dir string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "connectpy test server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	path := filepath.Join(dir, "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, certPEM, 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path, nil
}
