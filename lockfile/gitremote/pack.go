package gitremote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/storage/memory"
)

// maxMetaObject bounds one commit, tree or tag object (or a delta of one) held in memory.
const maxMetaObject = 64 << 20

// storeMeta reads a pack stream and stores its commits, trees and tags in st, streaming every
// blob past unread: Fetch needs only a commit's title and tree hashes, and a server without
// partial fetch sends the blobs too (go-git's own reader would hold the whole pack, hundreds
// of megabytes for a repository with big files). A delta is resolved when its base was kept
// (deltas of blobs have blob bases, which are not); one whose base is not in the pack is
// skipped, and a missing commit or tree then fails the caller's lookup.
func storeMeta(r io.Reader, st *memory.Storage) error {
	sc := packfile.NewScanner(r)
	_, count, err := sc.Header()
	if err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	type kept struct {
		t    plumbing.ObjectType
		data []byte
	}
	byOffset := map[int64]kept{}
	byHash := map[plumbing.Hash]kept{}
	for i := uint32(0); i < count; i++ {
		oh, err := sc.NextObjectHeader()
		if err != nil {
			return fmt.Errorf("read pack: %w", err)
		}
		var base kept
		switch oh.Type {
		case plumbing.CommitObject, plumbing.TreeObject, plumbing.TagObject:
		case plumbing.OFSDeltaObject:
			base = byOffset[oh.OffsetReference]
		case plumbing.REFDeltaObject:
			base = byHash[oh.Reference]
		default: // blobs, and whatever else a pack may hold
			if _, _, err := sc.NextObject(io.Discard); err != nil {
				return fmt.Errorf("read pack: %w", err)
			}
			continue
		}
		delta := oh.Type == plumbing.OFSDeltaObject || oh.Type == plumbing.REFDeltaObject
		if (delta && base.data == nil) || oh.Length > maxMetaObject {
			if _, _, err := sc.NextObject(io.Discard); err != nil {
				return fmt.Errorf("read pack: %w", err)
			}
			continue
		}
		var buf bytes.Buffer
		buf.Grow(int(oh.Length))
		if _, _, err := sc.NextObject(&buf); err != nil {
			return fmt.Errorf("read pack: %w", err)
		}
		k := kept{t: oh.Type, data: buf.Bytes()}
		if delta {
			data, err := packfile.PatchDelta(base.data, k.data)
			if err != nil {
				return fmt.Errorf("read pack: %w", err)
			}
			if len(data) > maxMetaObject {
				return errors.New("read pack: an object is too large for a commit, tree or tag")
			}
			k = kept{t: base.t, data: data}
		}
		h := plumbing.ComputeHash(k.t, k.data)
		byOffset[oh.Offset], byHash[h] = k, k
		obj := &plumbing.MemoryObject{}
		obj.SetType(k.t)
		if _, err := obj.Write(k.data); err != nil {
			return err
		}
		if _, err := st.SetEncodedObject(obj); err != nil {
			return err
		}
	}
	if _, err := sc.Checksum(); err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	return nil
}

// FetchPack asks the server for want (depth commits deep, 0 for its whole history, every blob
// included) and copies the pack stream to w as it arrives: the caller stores and indexes it
// without holding it in memory (builder/fetch).
func (r *Remote) FetchPack(ctx context.Context, want string, depth int, w io.Writer) (err error) {
	req := packp.NewUploadPackRequestFromCapabilities(r.adv.Capabilities)
	req.Wants = []plumbing.Hash{plumbing.NewHash(want)}
	if depth > 0 {
		req.Depth = packp.DepthCommits(depth)
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return r.wrap("fetch "+want, err)
		}
	}
	if r.adv.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	resp, err := r.sess.UploadPack(ctx, req)
	if err != nil {
		return r.wrap("fetch "+want, err)
	}
	defer func() {
		if cerr := resp.Close(); err == nil && cerr != nil {
			err = r.wrap("fetch "+want, cerr)
		}
	}()
	var rd io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		rd = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		rd = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	if _, err := io.Copy(w, rd); err != nil {
		return r.wrap("fetch "+want, err)
	}
	return nil
}

// Want is what to ask the server for to get commit (see want).
func (r *Remote) Want(commit string) string { return r.want(commit).String() }
