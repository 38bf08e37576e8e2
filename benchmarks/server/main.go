// Command benchserver serves the connect-python benchmark service
// (benchmarks/proto/connectbench/v1/bench.proto) with connect-go on a loopback
// port, speaking HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the same
// port. It prints one JSON line {"url": ..., "pid": ...} on stdout once it
// listens, and exits when its standard input is closed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"

	benchv1 "connectpython/benchserver/gen/connectbench/v1"
	"connectpython/benchserver/gen/connectbench/v1/benchv1connect"
)

type benchService struct{}

// filler returns n bytes of a repeating pattern.
func filler(n uint32) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func (benchService) Echo(
	_ context.Context, req *connect.Request[benchv1.EchoRequest],
) (*connect.Response[benchv1.EchoResponse], error) {
	return connect.NewResponse(&benchv1.EchoResponse{Payload: req.Msg.Payload}), nil
}

func (benchService) List(
	_ context.Context, req *connect.Request[benchv1.ListRequest],
) (*connect.Response[benchv1.ListResponse], error) {
	entries := make([]*benchv1.Entry, req.Msg.Count)
	for i := range entries {
		name := fmt.Sprintf("file-%05d.txt", i)
		entries[i] = &benchv1.Entry{
			Name:              name,
			Path:              "/home/user/project/" + name,
			Size:              uint64(i) * 97,
			Mode:              0o644,
			ModifiedUnixNanos: 1_700_000_000_000_000_000 + int64(i),
		}
	}
	return connect.NewResponse(&benchv1.ListResponse{Entries: entries}), nil
}

func (benchService) ProcessOutput(
	_ context.Context,
	req *connect.Request[benchv1.ProcessOutputRequest],
	stream *connect.ServerStream[benchv1.ProcessEvent],
) error {
	start := &benchv1.ProcessEvent{Event: &benchv1.ProcessEvent_Start{
		Start: &benchv1.ProcessEvent_StartEvent{Pid: 4242},
	}}
	if err := stream.Send(start); err != nil {
		return err
	}
	data := &benchv1.ProcessEvent{Event: &benchv1.ProcessEvent_Data{
		Data: &benchv1.ProcessEvent_DataEvent{
			Output: &benchv1.ProcessEvent_DataEvent_Stdout{Stdout: filler(req.Msg.ChunkSize)},
		},
	}}
	for i := uint32(0); i < req.Msg.Count; i++ {
		if err := stream.Send(data); err != nil {
			return err
		}
	}
	end := &benchv1.ProcessEvent{Event: &benchv1.ProcessEvent_End{
		End: &benchv1.ProcessEvent_EndEvent{ExitCode: 0, Exited: true, Status: "exit status 0"},
	}}
	return stream.Send(end)
}

func (benchService) ReadFile(
	_ context.Context,
	req *connect.Request[benchv1.ReadFileRequest],
	stream *connect.ServerStream[benchv1.FileChunk],
) error {
	chunk := &benchv1.FileChunk{Data: filler(req.Msg.ChunkSize)}
	for i := uint32(0); i < req.Msg.Count; i++ {
		chunk.Offset = uint64(i) * uint64(req.Msg.ChunkSize)
		if err := stream.Send(chunk); err != nil {
			return err
		}
	}
	return nil
}

func (benchService) Watch(
	ctx context.Context,
	req *connect.Request[benchv1.WatchRequest],
	stream *connect.ServerStream[benchv1.WatchEvent],
) error {
	interval := time.Duration(req.Msg.IntervalMicros) * time.Microsecond
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for i := uint32(0); i < req.Msg.Count; i++ {
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		event := &benchv1.WatchEvent{
			Name:          fmt.Sprintf("/home/user/watched/file-%d", i),
			Type:          uint32(i%3 + 1),
			SentUnixNanos: time.Now().UnixNano(),
		}
		if err := stream.Send(event); err != nil {
			return err
		}
	}
	return nil
}

func (benchService) SendInput(
	_ context.Context, stream *connect.ClientStream[benchv1.InputChunk],
) (*connect.Response[benchv1.InputSummary], error) {
	summary := &benchv1.InputSummary{}
	for stream.Receive() {
		summary.Messages++
		summary.Bytes += uint64(len(stream.Msg().Data))
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(summary), nil
}

func (benchService) EchoStream(
	_ context.Context, stream *connect.BidiStream[benchv1.EchoRequest, benchv1.EchoResponse],
) error {
	for {
		req, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&benchv1.EchoResponse{Payload: req.Payload}); err != nil {
			return err
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	flag.Parse()

	mux := http.NewServeMux()
	// Responses are never compressed: every client is measured on the same bytes.
	path, handler := benchv1connect.NewBenchServiceHandler(
		benchService{}, connect.WithCompressMinBytes(math.MaxInt32),
	)
	mux.Handle(path, handler)

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	server := &http.Server{
		Handler:           mux,
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 1000,
		},
	}

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	line, _ := json.Marshal(map[string]any{
		"url": "http://" + listener.Addr().String(),
		"pid": os.Getpid(),
	})
	fmt.Println(string(line))

	go func() {
		// The parent closes our stdin (or dies): stop serving.
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
