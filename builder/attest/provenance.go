package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/graft-build/graft/internal/version"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// In-toto and SLSA identifiers.
const (
	StatementType  = "https://in-toto.io/Statement/v1"
	SLSAProvenance = "https://slsa.dev/provenance/v1"
	BuildType      = "https://github.com/graft-build/graft/build/v1"
	BuilderID      = "https://github.com/graft-build/graft"
)

// Statement is an in-toto statement v1. Plain structs (not github.com/in-toto/attestation's
// protobuf types) keep the field order, and so the bytes, fixed.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     Provenance `json:"predicate"`
}

// Subject is what the statement is about: the image.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Provenance is the SLSA v1 provenance predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

type BuildDefinition struct {
	BuildType            string             `json:"buildType"`
	ExternalParameters   ExternalParameters `json:"externalParameters"`
	InternalParameters   map[string]string  `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDesc     `json:"resolvedDependencies"`
}

// ExternalParameters are the inputs a reviewer controls: the lock and the definitions.
type ExternalParameters struct {
	Lock        ResourceDesc    `json:"lock"`
	Definitions ResourceDesc    `json:"definitions"`
	Platforms   []string        `json:"platforms"`
	Steps       []PluginStepDef `json:"buildSteps,omitempty"`
	// Unlocked names plugins built from working folders (graft build --override), not the lock.
	Unlocked []string `json:"unlockedPlugins,omitempty"`
}

// PluginStepDef names a plugin's [build] steps, which BuildKit ran inside the base image.
type PluginStepDef struct {
	Plugin  string   `json:"plugin"`
	Run     []string `json:"run"`
	Secrets []string `json:"secrets,omitempty"` // ids only; values never leave graft
}

// ResourceDesc is SLSA's ResourceDescriptor.
type ResourceDesc struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version"`
}

// Metadata carries no start or finish time: the statement must not change between rebuilds.
type Metadata struct {
	InvocationID string `json:"invocationId,omitempty"`
}

// ProvenanceStatement is the image's in-toto statement with a SLSA v1 provenance predicate.
func ProvenanceStatement(in *Input) ([]byte, error) {
	res, p := in.Result, in.Project
	st := Statement{Type: StatementType, PredicateType: SLSAProvenance,
		Subject: []Subject{{Name: imageName(in), Digest: map[string]string{res.Digest.Algorithm: res.Digest.Hex}}}}
	bd := &st.Predicate.BuildDefinition
	bd.BuildType = BuildType
	bd.ExternalParameters = ExternalParameters{
		Lock:        ResourceDesc{Name: "graft.lock", Digest: digestMap(in.LockDigest)},
		Definitions: ResourceDesc{Name: "graft.toml and plugins/*/plugin.toml", Digest: digestMap(p.Lock.Definitions)},
		Platforms:   res.Platforms,
	}
	bd.InternalParameters = map[string]string{"created": res.Created.UTC().Format("2006-01-02T15:04:05Z")}
	bd.ResolvedDependencies = append(bd.ResolvedDependencies, ResourceDesc{Name: "base", URI: p.Lock.Base.Ref,
		Digest: digestMap(p.Lock.Base.Digest)})
	for _, pk := range p.Lock.Plugins {
		ann := map[string]any{"ref": pk.Ref, "kind": pk.Kind, "tree": pk.Tree}
		if pk.Path != "" {
			ann["path"] = pk.Path
		}
		if len(pk.Tags) > 0 {
			ann["tags"] = pk.Tags
		}
		if def := p.Plugin(pk.Name); def != nil && len(def.Build.Run) > 0 {
			step := PluginStepDef{Plugin: pk.Name, Run: def.Build.Run}
			for _, s := range def.Build.Secrets {
				step.Secrets = append(step.Secrets, s.ID)
			}
			bd.ExternalParameters.Steps = append(bd.ExternalParameters.Steps, step)
			ann["builtBy"] = "buildkit"
			ann["steps"] = def.Build.Run
		}
		dep := ResourceDesc{Name: "plugin " + pk.Name,
			URI: "git+" + gitremote.Redact(pk.Git) + "@" + pk.Commit, Digest: map[string]string{"gitCommit": pk.Commit},
			Annotations: ann}
		if info := in.unlocked(pk.Name); info != nil {
			bd.ExternalParameters.Unlocked = append(bd.ExternalParameters.Unlocked, pk.Name)
			digest := map[string]string{"gitTree": info.Tree}
			if blob, ok := strings.CutPrefix(info.Tree, "blob "); ok {
				digest = map[string]string{"gitBlob": blob}
			}
			dep = ResourceDesc{Name: "plugin " + pk.Name, Digest: digest,
				Annotations: map[string]any{"unlocked": true, "source": "graft build --override (a working folder, not graft.lock)"}}
		} else if pk.IsArtifact() {
			dep.URI, dep.Digest = pk.SourceName(), digestMap(pk.Digest)
			delete(ann, "ref")
			if pk.Version != "" {
				ann["version"] = pk.Version
			}
			if pk.Dest != "" {
				ann["dest"] = pk.Dest
			}
		}
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, dep)
	}
	for _, l := range in.Launchers {
		sum := sha256.Sum256(l.Binary)
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, ResourceDesc{Name: "graft-launcher " + l.Platform,
			URI:    "pkg:golang/github.com/graft-build/graft/cmd/graft-launcher@" + l.Version,
			Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}})
	}
	st.Predicate.RunDetails.Builder = Builder{ID: BuilderID, Version: map[string]string{"graft": version.String()}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep build steps ("a > b") readable
	if err := enc.Encode(st); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return buf.Bytes(), nil
}

// digestMap turns "sha256:HEX" into {"sha256": "HEX"}.
func digestMap(d string) map[string]string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok {
		return nil
	}
	return map[string]string{algo: hex}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
