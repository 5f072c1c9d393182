package layer

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// big is content over memLimit, half incompressible, so the blob goes to a file.
func big() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 3*memLimit)
	for i := 0; i < len(b)/2; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func streamed(name string, data []byte) Entry {
	return Entry{Name: name, Type: tar.TypeReg, Mode: 0o644, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// The same files give the same digest whether held in memory or streamed, and whether the
// blob stays in memory, goes to the cache or to a temporary file.
func TestStreamedAndSpooledLayersAreIdentical(t *testing.T) {
	data := big()
	inMemory, err := New([]Entry{{Name: "/p/big.bin", Type: tar.TypeReg, Mode: 0o644, Data: data}, {Name: "/p/a", Type: tar.TypeReg, Mode: 0o644, Data: []byte("a")}})
	if err != nil {
		t.Fatal(err)
	}
	if inMemory.f == nil {
		t.Fatal("a blob over memLimit stayed in memory")
	}
	want, _ := inMemory.Digest()
	wantDiff, _ := inMemory.DiffID()
	for name, opts := range map[string][]Option{"temp file": nil, "cache": {WithCacheDir(t.TempDir())}} {
		l, err := New([]Entry{streamed("/p/big.bin", data), streamed("/p/a", []byte("a"))}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := l.Digest()
		diff, _ := l.DiffID()
		if got != want || diff != wantDiff {
			t.Fatalf("%s: digest %s diff ID %s, want %s %s", name, got, diff, want, wantDiff)
		}
		rc, _ := l.Compressed()
		blobDigest, n, err := sha256Reader(rc)
		if err != nil || blobDigest != want.Hex || n != l.size {
			t.Fatalf("%s: blob reads as %s (%d bytes, %v)", name, blobDigest, n, err)
		}
		hs := headers(t, l)
		if len(hs) != 3 || hs[2].Size != int64(len(data)) {
			t.Fatalf("%s: entries %v", name, hs)
		}
	}
}

func sha256Reader(r io.Reader) (string, int64, error) {
	h := newSHA()
	n, err := io.Copy(h, r)
	return hexSum(h), n, err
}

func TestStreamOfTheWrongLengthFails(t *testing.T) {
	e := streamed("/p/x", []byte("short"))
	e.Size = 10
	if _, err := New([]Entry{e}); err == nil || !strings.Contains(err.Error(), "/p/x") {
		t.Fatalf("err = %v", err)
	}
	e = streamed("/p/x", []byte("longer than said"))
	e.Size = 3
	if _, err := New([]Entry{e}, WithCacheDir(t.TempDir())); err == nil {
		t.Fatal("overlong stream accepted")
	}
}

func newSHA() hash.Hash         { return sha256.New() }
func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// Parallel compression gives the same blob whatever the cores and scheduling, and any gzip
// reader (the standard library's too, as Docker uses) reads it back.
func TestParallelCompressionIsDeterministic(t *testing.T) {
	data := append(big(), big()...)
	make1 := func(procs int) *Layer {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		l, err := New([]Entry{streamed("/p/big.bin", data), streamed("/p/small", []byte("s"))})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	one, four := make1(1), make1(4)
	if one.digest != four.digest || one.diffID != four.diffID {
		t.Fatalf("1 core: %s, 4 cores: %s", one.digest, four.digest)
	}
	rc, _ := four.Compressed()
	zr, err := stdgzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	tarDigest, _, err := sha256Reader(zr)
	if err != nil || "sha256:"+tarDigest != four.diffID.String() {
		t.Fatalf("standard gzip reads %s (%v), diff ID %s", tarDigest, err, four.diffID)
	}
}
