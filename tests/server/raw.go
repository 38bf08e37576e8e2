package main

// Raw misbehaviours: a middleware in front of connect-go that writes broken
// responses itself, for the client's error-path tests. See testing.proto.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	testingv1 "connectpy/testserver/gen/testingv1"
	"connectpy/testserver/gen/testingv1/testingv1connect"
)

const rawHeader = "X-Test-Raw"

// maxPeek bounds how much of a request body the middleware buffers to look
// for a `raw` field.
const maxPeek = 64 << 20

// rawRequest is what a raw handler needs from the request.
type rawRequest struct {
	mode  string
	codec string // "proto" or "json"
	count int64
	size  int64
}

// unaryModes work on every path; streamModes only on streaming paths.
var unaryModes = map[string]func(http.ResponseWriter, *rawRequest){
	"http_502": func(w http.ResponseWriter, _ *rawRequest) {
		plain(w, http.StatusBadGateway, "bad gateway (test server raw mode)\n")
	},
	"http_404": func(w http.ResponseWriter, _ *rawRequest) {
		plain(w, http.StatusNotFound, "404 page not found (test server raw mode)\n")
	},
	"http_429": func(w http.ResponseWriter, _ *rawRequest) {
		plain(w, http.StatusTooManyRequests, "too many requests (test server raw mode)\n")
	},
	"http_503_json": func(w http.ResponseWriter, _ *rawRequest) {
		body(w, http.StatusServiceUnavailable, "application/json",
			`{"code":"unavailable","message":"raw unavailable"}`)
	},
	"wrong_content_type": func(w http.ResponseWriter, _ *rawRequest) {
		body(w, http.StatusOK, "text/html; charset=utf-8", "<html><body>not connect</body></html>\n")
	},
	"invalid_json": func(w http.ResponseWriter, _ *rawRequest) {
		body(w, http.StatusOK, "application/json", "{not json")
	},
	"unknown_code": func(w http.ResponseWriter, _ *rawRequest) {
		body(w, http.StatusTooManyRequests, "application/json",
			`{"code":"bogus","message":"raw unknown code"}`)
	},
}

var streamModes = map[string]func(http.ResponseWriter, *rawRequest){
	"truncate": func(w http.ResponseWriter, rr *rawRequest) {
		startStream(w, rr)
		writeEnvelope(w, 0, encodeStream(rr, 0))
		// Declare 100 bytes, send 10, then drop the connection (HTTP/1.1)
		// or reset the stream (HTTP/2).
		header := make([]byte, 5)
		binary.BigEndian.PutUint32(header[1:], 100)
		w.Write(header)
		w.Write(make([]byte, 10))
		flush(w)
		panic(http.ErrAbortHandler)
	},
	"no_end_stream": func(w http.ResponseWriter, rr *rawRequest) {
		startStream(w, rr)
		for i := int64(0); i < rr.count; i++ {
			writeEnvelope(w, 0, encodeStream(rr, i))
		}
	},
	"bad_flags": func(w http.ResponseWriter, rr *rawRequest) {
		startStream(w, rr)
		writeEnvelope(w, 0x80, encodeStream(rr, 0))
	},
	"huge_length": func(w http.ResponseWriter, rr *rawRequest) {
		startStream(w, rr)
		header := make([]byte, 5)
		binary.BigEndian.PutUint32(header[1:], 1<<30)
		w.Write(header)
		w.Write([]byte("abcd"))
		flush(w)
	},
	"garbage_end_stream": func(w http.ResponseWriter, rr *rawRequest) {
		startStream(w, rr)
		for i := int64(0); i < rr.count; i++ {
			writeEnvelope(w, 0, encodeStream(rr, i))
		}
		writeEnvelope(w, 0x02, []byte("this is not json"))
	},
}

func isStreamPath(path string) bool {
	switch path {
	case testingv1connect.TestServiceStreamProcedure,
		testingv1connect.TestServiceUploadProcedure,
		testingv1connect.TestServiceChatProcedure:
		return true
	}
	return false
}

// rawMiddleware answers requests that ask for a raw mode and records request
// details for the handlers; everything else goes to next.
func rawMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withRequestInfo(r)
		rr, r, ok := findRaw(r)
		if !ok {
			if r.ProtoMajor == 1 && r.URL.Path == testingv1connect.TestServiceChatProcedure {
				// Let Chat answer while the request body is still arriving,
				// as it does on HTTP/2.
				http.NewResponseController(w).EnableFullDuplex()
			}
			next.ServeHTTP(w, r)
			return
		}
		if handle, found := unaryModes[rr.mode]; found {
			handle(w, rr)
			return
		}
		if handle, found := streamModes[rr.mode]; found && isStreamPath(r.URL.Path) {
			handle(w, rr)
			return
		}
		plain(w, http.StatusBadRequest, "test server: unknown raw mode "+strconv.Quote(rr.mode)+" for "+r.URL.Path+"\n")
	})
}

// findRaw returns the raw request if the call asks for one. The request it
// returns has its body restored when the body was read to look for a field.
func findRaw(r *http.Request) (*rawRequest, *http.Request, bool) {
	rr := &rawRequest{codec: "proto", count: 1}
	header := r.Header.Get(rawHeader)
	var msg proto.Message
	switch r.URL.Path {
	case testingv1connect.TestServiceEchoProcedure, testingv1connect.TestServiceEchoGetProcedure:
		msg = &testingv1.EchoRequest{}
	case testingv1connect.TestServiceStreamProcedure:
		msg = &testingv1.StreamRequest{}
	}
	if msg == nil {
		if header == "" {
			return nil, r, false
		}
		rr.mode = header
		rr.codec = codecOf(r.Header.Get("Content-Type"))
		return rr, r, true
	}
	// Decode the one request message (best effort; a request we cannot read
	// goes to connect-go, which reports the problem properly).
	var data []byte
	var decoded bool
	if r.Method == http.MethodGet {
		data, rr.codec, decoded = getMessage(r)
	} else {
		raw, err := io.ReadAll(io.LimitReader(r.Body, maxPeek+1))
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if err == nil && len(raw) <= maxPeek {
			data, rr.codec, decoded = postMessage(r, raw)
		}
	}
	if decoded {
		var err error
		if rr.codec == "json" {
			err = protojson.Unmarshal(data, msg)
		} else {
			err = proto.Unmarshal(data, msg)
		}
		decoded = err == nil
	}
	if decoded {
		switch m := msg.(type) {
		case *testingv1.EchoRequest:
			rr.mode = m.GetRaw()
		case *testingv1.StreamRequest:
			rr.mode = m.GetRaw()
			rr.count = m.GetCount()
			rr.size = m.GetSize()
		}
	}
	if header != "" {
		rr.mode = header
	}
	return rr, r, rr.mode != ""
}

func codecOf(contentType string) string {
	if strings.HasSuffix(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]), "json") {
		return "json"
	}
	return "proto"
}

// postMessage extracts the single request message of a POSTed unary or
// server-streaming call (Connect, gRPC or gRPC-Web framing).
func postMessage(r *http.Request, body []byte) ([]byte, string, bool) {
	ct := r.Header.Get("Content-Type")
	codec := codecOf(ct)
	if strings.HasPrefix(ct, "application/connect+") || strings.HasPrefix(ct, "application/grpc") {
		if len(body) < 5 {
			return nil, codec, false
		}
		flags := body[0]
		n := binary.BigEndian.Uint32(body[1:5])
		if uint64(len(body)-5) < uint64(n) {
			return nil, codec, false
		}
		data := body[5 : 5+n]
		if flags&0x01 != 0 {
			enc := r.Header.Get("Connect-Content-Encoding")
			if enc == "" {
				enc = r.Header.Get("Grpc-Encoding")
			}
			return gunzip(enc, data, codec)
		}
		return data, codec, true
	}
	return gunzip(r.Header.Get("Content-Encoding"), body, codec)
}

func getMessage(r *http.Request) ([]byte, string, bool) {
	q := r.URL.Query()
	codec := q.Get("encoding")
	if codec != "json" {
		codec = "proto"
	}
	data := []byte(q.Get("message"))
	if q.Get("base64") == "1" {
		s := strings.TrimRight(string(data), "=")
		decoded, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			if decoded, err = base64.RawStdEncoding.DecodeString(s); err != nil {
				return nil, codec, false
			}
		}
		data = decoded
	}
	return gunzip(q.Get("compression"), data, codec)
}

func gunzip(encoding string, data []byte, codec string) ([]byte, string, bool) {
	out, err := decompress(encoding, data, maxPeek)
	return out, codec, err == nil
}

func plain(w http.ResponseWriter, status int, text string) {
	body(w, status, "text/plain; charset=utf-8", text)
}

func body(w http.ResponseWriter, status int, contentType, text string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	io.WriteString(w, text)
}

func startStream(w http.ResponseWriter, rr *rawRequest) {
	w.Header().Set("Content-Type", "application/connect+"+rr.codec)
	w.WriteHeader(http.StatusOK)
	flush(w)
}

func encodeStream(rr *rawRequest, index int64) []byte {
	msg := &testingv1.StreamResponse{Index: index, Payload: pattern(rr.size)}
	var data []byte
	var err error
	if rr.codec == "json" {
		data, err = protojson.Marshal(msg)
	} else {
		data, err = proto.Marshal(msg)
	}
	if err != nil {
		panic(err)
	}
	return data
}

func writeEnvelope(w http.ResponseWriter, flags byte, data []byte) {
	header := make([]byte, 5)
	header[0] = flags
	binary.BigEndian.PutUint32(header[1:], uint32(len(data)))
	w.Write(header)
	w.Write(data)
	flush(w)
}

func flush(w http.ResponseWriter) {
	http.NewResponseController(w).Flush()
}
