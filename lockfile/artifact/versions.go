package artifact

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// maxMetadata bounds a maven-metadata.xml read into memory.
const maxMetadata = 8 << 20

// mavenMetadata is the part of maven-metadata.xml that lists versions.
type mavenMetadata struct {
	Versions []string `xml:"versioning>versions>version"`
	Release  string   `xml:"versioning>release"`
}

// MavenVersions lists the versions a maven-metadata.xml at u names, in file order.
func (s *Store) MavenVersions(ctx context.Context, u string) ([]string, error) {
	resp, err := s.open(ctx, u)
	if err != nil {
		if NotFound(err) {
			return nil, &NotFoundError{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gitremote.Redact(u), err)
	}
	if len(data) > maxMetadata {
		return nil, usererr.New("%s is larger than %d bytes; that is no maven-metadata.xml", gitremote.Redact(u), maxMetadata)
	}
	var m mavenMetadata
	if err := xml.Unmarshal(data, &m); err != nil {
		return nil, usererr.New("%s is not a maven-metadata.xml: %v", gitremote.Redact(u), err)
	}
	return m.Versions, nil
}
