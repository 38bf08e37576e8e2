package main

// Brotli and zstd for connect-go (it has gzip built in), so the client's
// br/zstd support is tested against a real peer.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"connectrpc.com/connect"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

type brotliReader struct{ *brotli.Reader }

func (brotliReader) Close() error { return nil }

type zstdReader struct{ *zstd.Decoder }

func (zstdReader) Close() error { return nil }

type zstdWriter struct{ *zstd.Encoder }

func (w zstdWriter) Reset(dst io.Writer) { w.Encoder.Reset(dst) }

func compressionOptions() []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCompression("br",
			func() connect.Decompressor { return brotliReader{brotli.NewReader(nil)} },
			func() connect.Compressor { return brotli.NewWriter(nil) },
		),
		connect.WithCompression("zstd",
			func() connect.Decompressor {
				d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
				if err != nil {
					panic(err)
				}
				return zstdReader{d}
			},
			func() connect.Compressor {
				e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
				if err != nil {
					panic(err)
				}
				return zstdWriter{e}
			},
		),
	}
}

// decompress undoes a Content-Encoding for the raw middleware's peek.
func decompress(encoding string, data []byte, limit int64) ([]byte, error) {
	var r io.Reader
	switch encoding {
	case "", "identity":
		return data, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(data))
	case "zstd":
		d, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		r = d
	default:
		return nil, fmt.Errorf("unsupported encoding %q", encoding)
	}
	return io.ReadAll(io.LimitReader(r, limit))
}
