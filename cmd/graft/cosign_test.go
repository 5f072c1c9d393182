package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/sign"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/tooltest"
)

// cosignEnv runs cosign offline and away from this machine's ~/.sigstore.
func cosignEnv(t *testing.T, password string) []string {
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "COSIGN_PASSWORD="+password,
		"SIGSTORE_NO_CACHE=true")
}

// runTool runs a real tool (cosign, oras); it returns stdout, stderr and whether it exited 0.
func runTool(t *testing.T, bin string, env []string, dir string, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

// cosignKeys makes a key pair with the real `cosign generate-key-pair` in a new folder.
func cosignKeys(t *testing.T, bin, password string) (priv, pub string) {
	t.Helper()
	dir := t.TempDir()
	if out, errOut, ok := runTool(t, bin, cosignEnv(t, password), dir, "generate-key-pair"); !ok {
		t.Fatalf("cosign generate-key-pair: %s %s", out, errOut)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// envelopes are the DSSE envelopes `cosign download attestation` prints, one JSON per line,
// with their statements decoded.
func envelopes(t *testing.T, out string) map[string]attest.Statement {
	t.Helper()
	got := map[string]attest.Statement{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &env); err != nil || env.PayloadType != sign.InTotoPayloadType {
			t.Fatalf("cosign download attestation printed %q (%v), want DSSE envelopes of in-toto statements", line, err)
		}
		raw, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st attest.Statement
		if err := json.Unmarshal(raw, &st); err != nil {
			// The SBOM statement's predicate is SPDX, not provenance: read the header only.
			var hdr struct {
				PredicateType string           `json:"predicateType"`
				Subject       []attest.Subject `json:"subject"`
			}
			if err := json.Unmarshal(raw, &hdr); err != nil {
				t.Fatalf("statement %s: %v", raw, err)
			}
			st.PredicateType, st.Subject = hdr.PredicateType, hdr.Subject
		}
		got[st.PredicateType] = st
	}
	return got
}

// Attestations are DSSE envelopes cosign reads (download attestation) on registries with and
// without the referrers API; signed with --sign-key, the real `cosign verify` and `cosign
// verify-attestation` accept the image and both attestations with the public key, and graft
// verify --key does too; another key is refused by both.
func TestSignedImageVerifiesWithCosign(t *testing.T) {
	bin := tooltest.Require(t, tooltest.Cosign)
	buildEnv(t)
	s := graftSite(t)
	priv, pub := cosignKeys(t, bin, "pw for test")
	_, otherPub := cosignKeys(t, bin, "other")
	for _, tc := range []struct {
		name string
		host string
	}{
		{"distribution (no referrers API)", registrytest.Distribution(t)},
		{"ggcr with referrers API", registrytest.GGCR(t, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(sign.PasswordEnv, "pw for test")
			tagged := tc.host + "/lib/site:v1"
			code, out, errOut := graft(t, "build", "-C", s.Dir, "-t", tagged, "--push", "--sign-key", priv)
			if code != 0 {
				t.Fatalf("graft build --sign-key: exit %d: %s", code, errOut)
			}
			if strings.Contains(errOut+out, "pw for test") {
				t.Fatalf("the key's password reached graft's output")
			}
			digest := lastLine(out)
			ref := tc.host + "/lib/site@" + digest
			env := cosignEnv(t, "")
			// cosign download attestation: DSSE envelopes of both statements about the image,
			// named by the -t repository.
			dl, errOut, ok := runTool(t, bin, env, "", "download", "attestation", ref)
			if !ok {
				t.Fatalf("cosign download attestation: %s", errOut)
			}
			sts := envelopes(t, dl)
			for _, pt := range []string{attest.SLSAProvenance, attest.SPDXPredicate} {
				st, ok := sts[pt]
				if !ok || len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != digest || st.Subject[0].Name != tc.host+"/lib/site" {
					t.Errorf("attestation %s: %+v (all: %v)", pt, st, sts)
				}
			}
			// cosign verify and verify-attestation with the key (no transparency log offline).
			vout, errOut, ok := runTool(t, bin, env, "", "verify", "--key", pub, "--insecure-ignore-tlog", ref)
			if !ok || !strings.Contains(vout, digest) {
				t.Fatalf("cosign verify --key: %s\n%s", vout, errOut)
			}
			for _, typ := range []string{"slsaprovenance1", "spdxjson"} {
				if out, errOut, ok := runTool(t, bin, env, "", "verify-attestation", "--key", pub, "--insecure-ignore-tlog",
					"--type", typ, ref); !ok {
					t.Errorf("cosign verify-attestation --type %s: %s\n%s", typ, out, errOut)
				}
			}
			if _, _, ok := runTool(t, bin, env, "", "verify", "--key", otherPub, "--insecure-ignore-tlog", ref); ok {
				t.Errorf("cosign verify accepted another key")
			}
			// graft verify --key checks the same.
			code, vo, errOut := graft(t, "verify", "-C", s.Dir, "--key", pub, ref)
			if code != 0 || !strings.Contains(vo, "signature: "+digest+" is signed by") ||
				!strings.Contains(vo, "attestation "+attest.SLSAProvenance+": signed by") ||
				!strings.Contains(vo, "attestation "+attest.SPDXPredicate+": signed by") {
				t.Errorf("graft verify --key: exit %d\n%s%s", code, vo, errOut)
			}
			code, vo, _ = graft(t, "verify", "-C", s.Dir, "--key", otherPub, ref)
			if code != 1 || !strings.Contains(vo, "not verified: image") || !strings.Contains(vo, "do not verify with") {
				t.Errorf("graft verify with another key: exit %d\n%s", code, vo)
			}
			// Rebuilding signs the same bytes again (deterministic signatures): cosign's tags
			// gain no layer.
			layers := func(suffix string) int {
				repo, _ := name.NewRepository(tc.host + "/lib/site")
				h, _ := v1.NewHash(digest)
				img, err := remote.Image(repo.Tag("sha256-" + h.Hex + "." + suffix))
				if err != nil {
					t.Fatalf("tag .%s: %v", suffix, err)
				}
				m, _ := img.Manifest()
				return len(m.Layers)
			}
			sig, att := layers("sig"), layers("att")
			if code, _, errOut := graft(t, "build", "-C", s.Dir, "-t", tagged, "--push", "--sign-key", priv); code != 0 {
				t.Fatalf("second signed build: %s", errOut)
			}
			if layers("sig") != sig || layers("att") != att || sig != 1 || att != 2 {
				t.Errorf("after a rebuild: .sig has %d layers (was %d), .att %d (was %d); want 1 and 2", layers("sig"), sig, layers("att"), att)
			}
		})
	}
}

// A signed attestation keeps its signature when the same image is rebuilt unsigned, and the
// cosign tags keep what other tools put there (an attestation `cosign attest` added).
func TestUnsignedRebuildKeepsSignatures(t *testing.T) {
	bin := tooltest.Require(t, tooltest.Cosign)
	buildEnv(t)
	s := graftSite(t)
	priv, pub := cosignKeys(t, bin, "")
	host := registrytest.Distribution(t)
	t.Setenv(sign.PasswordEnv, "")
	ref := host + "/lib/site:v1"
	code, out, errOut := graft(t, "build", "-C", s.Dir, "-t", ref, "--push", "--sign-key", priv)
	if code != 0 {
		t.Fatalf("signed build: %s", errOut)
	}
	digest := lastLine(out)
	env := cosignEnv(t, "")
	// cosign adds an attestation of its own beside graft's.
	predicate := filepath.Join(t.TempDir(), "scan.json")
	if err := os.WriteFile(predicate, []byte(`{"scanner":"test"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, ok := runTool(t, bin, env, "", "attest", "--yes", "--tlog-upload=false", "--key", priv, "--type", "custom",
		"--predicate", predicate, host+"/lib/site@"+digest); !ok {
		t.Fatalf("cosign attest: %s\n%s", out, errOut)
	}
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "-t", ref, "--push"); code != 0 {
		t.Fatalf("unsigned build: %s", errOut)
	}
	if out, errOut, ok := runTool(t, bin, env, "", "verify-attestation", "--key", pub, "--insecure-ignore-tlog",
		"--type", "custom", host+"/lib/site@"+digest); !ok {
		t.Errorf("after graft rebuilt, cosign's own attestation: %s\n%s", out, errOut)
	}
	if out, errOut, ok := runTool(t, bin, env, "", "verify-attestation", "--key", pub, "--insecure-ignore-tlog",
		"--type", "slsaprovenance1", host+"/lib/site@"+digest); !ok {
		t.Errorf("after an unsigned rebuild, verify-attestation: %s\n%s", out, errOut)
	}
	if code, vo, errOut := graft(t, "verify", "-C", s.Dir, "--key", pub, host+"/lib/site@"+digest); code != 0 {
		t.Errorf("graft verify --key after an unsigned rebuild: exit %d\n%s%s", code, vo, errOut)
	}
}

// Without --sign-key, graft verify --key finds no signature: exit 1, naming what is missing.
func TestVerifyKeyUnsignedImage(t *testing.T) {
	bin := tooltest.Require(t, tooltest.Cosign)
	buildEnv(t)
	s := graftSite(t)
	_, pub := cosignKeys(t, bin, "")
	host := registrytest.GGCR(t, true)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "-t", host+"/lib/site:v1", "--push")
	if code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	ref := host + "/lib/site@" + lastLine(out)
	code, vo, _ := graft(t, "verify", "-C", s.Dir, "--key", pub, ref)
	if code != 1 || !strings.Contains(vo, "not verified: image: no signature is attached") ||
		!strings.Contains(vo, "not verified: attestation "+attest.SLSAProvenance+": no copy verifies (") {
		t.Errorf("exit %d\n%s", code, vo)
	}
	// The unsigned attestations are still what cosign download attestation prints.
	dl, errOut, ok := runTool(t, bin, cosignEnv(t, ""), "", "download", "attestation", ref)
	if !ok {
		t.Fatalf("cosign download attestation: %s", errOut)
	}
	if sts := envelopes(t, dl); len(sts) != 2 {
		t.Errorf("cosign download attestation: %v", sts)
	}
}

// A wrong password for --sign-key is exit 2 before anything is built, and never printed.
func TestSignKeyWrongPassword(t *testing.T) {
	bin := tooltest.Require(t, tooltest.Cosign)
	buildEnv(t)
	s := graftSite(t)
	priv, _ := cosignKeys(t, bin, "right horse")
	t.Setenv(sign.PasswordEnv, "wrong battery")
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--sign-key", priv)
	if code != 2 || !strings.Contains(errOut, sign.PasswordEnv) || strings.Contains(out+errOut, "battery") || strings.Contains(errOut, "built ") {
		t.Errorf("exit %d: %s%s", code, out, errOut)
	}
}

// oras finds the attestations and the signature as referrers (the registry's fallback tag
// here), with their artifactType and predicateType, and pulls an envelope by its title.
func TestOrasReadsAttestations(t *testing.T) {
	oras := tooltest.Require(t, tooltest.Oras)
	cosign := tooltest.Require(t, tooltest.Cosign)
	buildEnv(t)
	s := graftSite(t)
	priv, _ := cosignKeys(t, cosign, "")
	t.Setenv(sign.PasswordEnv, "")
	host := registrytest.Distribution(t)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "-t", host+"/lib/site:v1", "--push", "--sign-key", priv)
	if code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	ref := host + "/lib/site@" + lastLine(out)
	env := append(os.Environ(), "HOME="+t.TempDir())
	disc, errOut, ok := runTool(t, oras, env, "", "discover", "--plain-http", "--format", "json", ref)
	if !ok {
		t.Fatalf("oras discover: %s", errOut)
	}
	var d struct {
		Referrers []struct {
			Reference    string            `json:"reference"`
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		} `json:"referrers"`
	}
	if err := json.Unmarshal([]byte(disc), &d); err != nil {
		t.Fatalf("oras discover: %v\n%s", err, disc)
	}
	found := map[string]string{}
	for _, r := range d.Referrers {
		found[r.ArtifactType+" "+r.Annotations[sign.PredicateTypeAnnotation]] = r.Reference
	}
	prov := found[sign.DSSEMediaType+" "+attest.SLSAProvenance]
	if prov == "" || found[sign.DSSEMediaType+" "+attest.SPDXPredicate] == "" || found[attest.SBOMMediaType+" "] == "" ||
		found[sign.SignatureArtifactType+" "] == "" {
		t.Fatalf("oras discover found %v", found)
	}
	dir := t.TempDir()
	if out, errOut, ok := runTool(t, oras, env, dir, "pull", "--plain-http", prov); !ok {
		t.Fatalf("oras pull: %s %s", out, errOut)
	}
	raw, err := os.ReadFile(filepath.Join(dir, attest.ProvenanceTitle))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := sign.Statement(raw); err != nil || !strings.Contains(string(st), attest.SLSAProvenance) {
		t.Errorf("pulled %s: %v\n%s", attest.ProvenanceTitle, err, raw)
	}
}

// A signed layout carries the signature and the signed attestations as referrers: graft
// verify --key checks them there too. (A forged envelope failing is tested in builder/sign.)
func TestVerifyKeyLayout(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	priv, pub := buildtest.CosignKeyPair(t, "pw")
	t.Setenv(sign.PasswordEnv, "pw")
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--sign-key", priv)
	if code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	digest := lastLine(out)
	dir := filepath.Join(s.Dir, "out/image")
	code, vo, errOut := graft(t, "verify", "-C", s.Dir, "--key", pub, "oci-layout://"+dir)
	if code != 0 || !strings.Contains(vo, "signature: "+digest+" is signed by "+pub+" (referrer sha256:") ||
		!strings.Contains(vo, "attestation "+attest.SLSAProvenance+": signed by") {
		t.Fatalf("verify --key: exit %d\n%s%s", code, vo, errOut)
	}
	// Another key verifies neither the image nor the attestations.
	_, otherPub := buildtest.CosignKeyPair(t, "other")
	code, vo, _ = graft(t, "verify", "-C", s.Dir, "--key", otherPub, "oci-layout://"+dir)
	if code != 1 || !strings.Contains(vo, "not verified: image: no signature verifies") ||
		!strings.Contains(vo, "not verified: attestation "+attest.SLSAProvenance+": no copy verifies") {
		t.Errorf("another key: exit %d\n%s", code, vo)
	}
}
