package main

// Self-checks of the test server with connect-go's own client (run with
// `go test` after build.sh has generated gen/).

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "connectpy/testserver/gen/testingv1"
	"connectpy/testserver/gen/testingv1/testingv1connect"
)

func startH2C(t *testing.T) (testingv1connect.TestServiceClient, *http.Client, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(testingv1connect.NewTestServiceHandler(testService{}, compressionOptions()...))
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: rawMiddleware(mux), Protocols: protos}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	clientProtos := new(http.Protocols)
	clientProtos.SetUnencryptedHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{Protocols: clientProtos, TLSClientConfig: &tls.Config{}}}
	url := "http://" + ln.Addr().String()
	return testingv1connect.NewTestServiceClient(httpClient, url), httpClient, url
}

func TestChatIsFullDuplex(t *testing.T) {
	client, _, _ := startH2C(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := client.Chat(ctx)
	for i, text := range []string{"a", "b", "c"} {
		if err := stream.Send(&testingv1.ChatRequest{Text: text}); err != nil {
			t.Fatal(err)
		}
		// The reply arrives before the request side is closed.
		reply, err := stream.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if reply.GetText() != text || reply.GetIndex() != int64(i) {
			t.Fatalf("reply %d = %v", i, reply)
		}
	}
	if err := stream.Send(&testingv1.ChatRequest{Text: "end", Outcome: &testingv1.Outcome{
		ErrorCode: "aborted", ErrorMessage: "bye", ResponseTrailers: []string{"x-t: 1"},
	}}); err != nil {
		t.Fatal(err)
	}
	if reply, err := stream.Receive(); err != nil || reply.GetText() != "end" {
		t.Fatalf("last reply %v %v", reply, err)
	}
	_, err := stream.Receive()
	if connect.CodeOf(err) != connect.CodeAborted {
		t.Fatalf("want aborted, got %v", err)
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) && cerr.Meta().Get("x-t") != "1" {
		t.Fatalf("trailers %v", cerr.Meta())
	}
	stream.CloseRequest()
	stream.CloseResponse()
}

func TestUploadCounts(t *testing.T) {
	client, _, _ := startH2C(t)
	stream := client.Upload(context.Background())
	for i := 0; i < 4; i++ {
		msg := &testingv1.UploadRequest{Chunk: make([]byte, 10)}
		if i == 1 {
			msg.Outcome = &testingv1.Outcome{ResponseHeaders: []string{"x-h: v"}}
		}
		if err := stream.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetMessages() != 4 || res.Msg.GetBytes() != 40 || res.Header().Get("x-h") != "v" {
		t.Fatalf("got %v %v", res.Msg, res.Header())
	}
}

func TestStreamDelayHonoursCancellation(t *testing.T) {
	client, _, _ := startH2C(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	stream, err := client.Stream(ctx, connect.NewRequest(&testingv1.StreamRequest{
		Count: 100, Outcome: &testingv1.Outcome{DelayMs: 1000},
	}))
	if err == nil {
		for stream.Receive() {
		}
		err = stream.Err()
	}
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestUnaryErrorCarriesHeadersAndTrailers(t *testing.T) {
	client, _, _ := startH2C(t)
	_, err := client.Echo(context.Background(), connect.NewRequest(&testingv1.EchoRequest{
		Outcome: &testingv1.Outcome{
			ErrorCode: "not_found", ErrorMessage: "nope", DetailText: "why",
			ResponseHeaders: []string{"x-h: 1"}, ResponseTrailers: []string{"x-t: 2"},
		},
	}))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeNotFound || cerr.Message() != "nope" {
		t.Fatalf("got %v", err)
	}
	if cerr.Meta().Get("x-h") != "1" || cerr.Meta().Get("x-t") != "2" {
		t.Fatalf("meta %v", cerr.Meta())
	}
	details := cerr.Details()
	if len(details) != 1 {
		t.Fatalf("details %v", details)
	}
	value, err := details[0].Value()
	if err != nil || string(value.(*testingv1.EchoResponse).GetPayload()) != "why" {
		t.Fatalf("detail %v %v", value, err)
	}
}

func TestEchoReportsRequest(t *testing.T) {
	client, _, _ := startH2C(t)
	req := connect.NewRequest(&testingv1.EchoRequest{ResponseSize: 300})
	req.Header().Add("X-Multi", "a")
	req.Header().Add("X-Multi", "b")
	res, err := client.Echo(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	msg := res.Msg
	if len(msg.GetPayload()) != 300 || msg.GetPayload()[257] != 1 {
		t.Fatalf("payload %v", msg.GetPayload())
	}
	if msg.GetHttpProto() != "HTTP/2.0" || msg.GetHttpMethod() != "POST" {
		t.Fatalf("proto %q method %q", msg.GetHttpProto(), msg.GetHttpMethod())
	}
	joined := strings.Join(msg.GetRequestHeaders(), "\n")
	if !strings.Contains(joined, "x-multi: a\nx-multi: b") || !strings.Contains(joined, "content-type: application/proto") {
		t.Fatalf("headers %v", msg.GetRequestHeaders())
	}
}

func TestEchoGetAndRawModes(t *testing.T) {
	_, httpClient, url := startH2C(t)
	get := func(query string, header string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, url+testingv1connect.TestServiceEchoGetProcedure+"?"+query, nil)
		if header != "" {
			req.Header.Set(rawHeader, header)
		}
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get("connect=v1&encoding=json&message=%7B%7D", ""); res.StatusCode != 200 {
		t.Fatalf("plain GET: %d", res.StatusCode)
	}
	for mode, status := range map[string]int{
		"http_502": 502, "http_404": 404, "http_429": 429, "http_503_json": 503,
		"wrong_content_type": 200, "invalid_json": 200, "unknown_code": 429,
	} {
		if res := get("connect=v1&encoding=json&message=%7B%7D", mode); res.StatusCode != status {
			t.Errorf("%s: status %d", mode, res.StatusCode)
		}
	}
	if res := get("connect=v1&encoding=json&message=%7B%22raw%22%3A%22http_429%22%7D", ""); res.StatusCode != 429 {
		t.Fatalf("raw field: %d", res.StatusCode)
	}
}
