package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"

	testingv1 "connectpy/testserver/gen/testingv1"
)

// testService implements every behaviour documented in testing.proto.
type testService struct{}

// requestInfo is what the middleware saw of the HTTP request; connect-go does
// not expose the raw query, method or protocol to handlers.
type requestInfo struct {
	method   string
	proto    string
	rawQuery string
	host     string
	header   http.Header
}

type requestInfoKey struct{}

func withRequestInfo(r *http.Request) *http.Request {
	info := &requestInfo{
		method:   r.Method,
		proto:    r.Proto,
		rawQuery: r.URL.RawQuery,
		host:     r.Host,
		header:   r.Header.Clone(),
	}
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{header: http.Header{}}
}

// pattern returns n bytes where byte j is j % 256.
func pattern(n int64) []byte {
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(j)
	}
	return b
}

// sleep waits d, or returns the context's error if the call ends first.
func sleep(ctx context.Context, ms int64) error {
	if ms <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return connect.NewError(connect.CodeCanceled, ctx.Err())
	}
}

// addPairs sets "name: value" entries on h (Add, so repeated names keep all values).
func addPairs(h http.Header, pairs []string) error {
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("bad header entry %q (want \"name: value\")", p))
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return nil
}

// outcomeError builds the error an Outcome asks for, or nil for success.
func outcomeError(o *testingv1.Outcome) error {
	if o == nil || o.GetErrorCode() == "" {
		return nil
	}
	var code connect.Code
	if err := code.UnmarshalText([]byte(o.GetErrorCode())); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unknown error_code %q", o.GetErrorCode()))
	}
	cerr := connect.NewError(code, errors.New(o.GetErrorMessage()))
	if o.GetDetailText() != "" {
		detail, err := connect.NewErrorDetail(&testingv1.EchoResponse{Payload: []byte(o.GetDetailText())})
		if err != nil {
			return connect.NewError(connect.CodeInternal, err)
		}
		cerr.AddDetail(detail)
	}
	return cerr
}

func (testService) echo(ctx context.Context, req *connect.Request[testingv1.EchoRequest]) (*connect.Response[testingv1.EchoResponse], error) {
	msg := req.Msg
	o := msg.GetOutcome()
	// Set through the call info so they travel with an error too (trailers
	// of a unary Connect call are "trailer-" prefixed headers).
	if call, ok := connect.CallInfoForHandlerContext(ctx); ok {
		if err := addPairs(call.ResponseHeader(), o.GetResponseHeaders()); err != nil {
			return nil, err
		}
		if err := addPairs(call.ResponseTrailer(), o.GetResponseTrailers()); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, o.GetDelayMs()); err != nil {
		return nil, err
	}
	info := infoFrom(ctx)
	if handled, fail := failFirst(info); !handled || fail {
		if err := outcomeError(o); err != nil {
			return nil, err
		}
	}
	payload := msg.GetPayload()
	if msg.GetResponseSize() > 0 {
		payload = pattern(msg.GetResponseSize())
	}
	return connect.NewResponse(&testingv1.EchoResponse{
		Payload:        payload,
		RequestHeaders: headerLines(info),
		Query:          info.rawQuery,
		HttpMethod:     info.method,
		HttpProto:      info.proto,
	}), nil
}

func headerLines(info *requestInfo) []string {
	lines := make([]string, 0, len(info.header)+1)
	if info.host != "" {
		lines = append(lines, "host: "+info.host)
	}
	names := make([]string, 0, len(info.header))
	for name := range info.header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range info.header[name] {
			lines = append(lines, strings.ToLower(name)+": "+v)
		}
	}
	sort.SliceStable(lines, func(i, j int) bool {
		ni, _, _ := strings.Cut(lines[i], ":")
		nj, _, _ := strings.Cut(lines[j], ":")
		return ni < nj
	})
	return lines
}

func (s testService) Echo(ctx context.Context, req *connect.Request[testingv1.EchoRequest]) (*connect.Response[testingv1.EchoResponse], error) {
	return s.echo(ctx, req)
}

func (s testService) EchoGet(ctx context.Context, req *connect.Request[testingv1.EchoRequest]) (*connect.Response[testingv1.EchoResponse], error) {
	return s.echo(ctx, req)
}

func (testService) Stream(ctx context.Context, req *connect.Request[testingv1.StreamRequest], stream *connect.ServerStream[testingv1.StreamResponse]) error {
	msg := req.Msg
	o := msg.GetOutcome()
	if err := addPairs(stream.ResponseHeader(), o.GetResponseHeaders()); err != nil {
		return err
	}
	if err := addPairs(stream.ResponseTrailer(), o.GetResponseTrailers()); err != nil {
		return err
	}
	payload := pattern(msg.GetSize())
	for i := int64(0); i < msg.GetCount(); i++ {
		if err := sleep(ctx, o.GetDelayMs()); err != nil {
			return err
		}
		if err := stream.Send(&testingv1.StreamResponse{Index: i, Payload: payload}); err != nil {
			return err
		}
	}
	return outcomeError(o)
}

func (testService) Upload(ctx context.Context, stream *connect.ClientStream[testingv1.UploadRequest]) (*connect.Response[testingv1.UploadResponse], error) {
	var messages, size int64
	var o *testingv1.Outcome
	for stream.Receive() {
		msg := stream.Msg()
		messages++
		size += int64(len(msg.GetChunk()))
		if o == nil && msg.GetOutcome() != nil {
			o = msg.GetOutcome()
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	conn := stream.Conn()
	if err := addPairs(conn.ResponseHeader(), o.GetResponseHeaders()); err != nil {
		return nil, err
	}
	if err := addPairs(conn.ResponseTrailer(), o.GetResponseTrailers()); err != nil {
		return nil, err
	}
	if err := sleep(ctx, o.GetDelayMs()); err != nil {
		return nil, err
	}
	if err := outcomeError(o); err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.UploadResponse{Messages: messages, Bytes: size}), nil
}

func (testService) Chat(ctx context.Context, stream *connect.BidiStream[testingv1.ChatRequest, testingv1.ChatResponse]) error {
	for index := int64(0); ; index++ {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		o := msg.GetOutcome()
		if o != nil {
			if err := addPairs(stream.ResponseHeader(), o.GetResponseHeaders()); err != nil {
				return err
			}
			if err := addPairs(stream.ResponseTrailer(), o.GetResponseTrailers()); err != nil {
				return err
			}
			if err := sleep(ctx, o.GetDelayMs()); err != nil {
				return err
			}
		}
		if err := stream.Send(&testingv1.ChatResponse{Text: msg.GetText(), Index: index}); err != nil {
			return err
		}
		if o != nil {
			return outcomeError(o)
		}
	}
}
