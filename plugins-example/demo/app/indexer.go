package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// indexState is what the indexer writes to the data folder: like ArchivesSpace's indexer it
// polls the backend and keeps its own state outside the container.
type indexState struct {
	Records []string  `json:"records"`
	Updated time.Time `json:"updated"`
	Version string    `json:"version"`
}

func (a *App) indexPath() string { return filepath.Join(a.cfg.DBDir, "index.json") }

// runIndexer polls the backend every index_interval while the indexer component is served.
func (a *App) runIndexer(ctx context.Context) {
	if !slices.Contains(a.components, "indexer") {
		return
	}
	t := time.NewTicker(a.cfg.IndexInterval)
	defer t.Stop()
	for {
		if err := a.indexOnce(ctx); err != nil && ctx.Err() == nil {
			a.logger.Printf("indexer: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) indexOnce(ctx context.Context) error {
	var list struct {
		Records []string `json:"records"`
	}
	if err := a.backendGet(ctx, "/api/records", &list); err != nil {
		return err
	}
	data, err := json.Marshal(indexState{Records: list.Records, Updated: time.Now().UTC(), Version: a.cfg.Version})
	if err != nil {
		return err
	}
	return writeAtomic(a.indexPath(), data)
}

func (a *App) indexStatus(w http.ResponseWriter, r *http.Request) {
	data, err := os.ReadFile(a.indexPath())
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"records": []string{}, "updated": nil})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}
