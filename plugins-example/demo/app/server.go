package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// App is one demo-app process serving some components.
type App struct {
	cfg        *Config
	plugins    []*Plugin
	components []string
	hostname   string
	logger     *log.Logger
	client     *http.Client
	stopping   atomic.Bool
}

// New loads the plugins and checks what they require; a missing requirement fails startup.
func New(cfg *Config, components []string, logger *log.Logger) (*App, error) {
	plugins, err := LoadPlugins(cfg.PluginsDir, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DBDir, "records"), 0o755); err != nil {
		return nil, fmt.Errorf("db_url folder: %w", err)
	}
	host, _ := os.Hostname()
	return &App{cfg: cfg, plugins: plugins, components: components, hostname: host, logger: logger,
		client: &http.Client{Timeout: 5 * time.Second}}, nil
}

// Run serves the components until ctx is done, then drains: health turns 503 for
// shutdown_delay (so load balancers stop sending), then in-flight requests finish.
func (a *App) Run(ctx context.Context) error {
	type server struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}
	var servers []server
	for _, name := range a.components {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(a.cfg.Ports[name]))
		if err != nil {
			for _, s := range servers {
				s.ln.Close()
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		servers = append(servers, server{name, &http.Server{Handler: a.handler(name),
			ReadHeaderTimeout: 10 * time.Second}, ln})
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.srv.Serve(s.ln) }()
	}
	a.logger.Printf("demo-app %s: serving %s; plugins: %s", a.cfg.Version, a.describe(), VersionHeader(a.plugins))
	indexDone := make(chan struct{})
	indexCtx, stopIndex := context.WithCancel(context.Background())
	go func() { defer close(indexDone); a.runIndexer(indexCtx) }()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	a.stopping.Store(true)
	if runErr == nil && a.cfg.ShutdownDelay > 0 {
		a.logger.Printf("stopping: health is 503 for %s before draining", a.cfg.ShutdownDelay)
		time.Sleep(a.cfg.ShutdownDelay)
	}
	stopIndex()
	<-indexDone
	drainCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(drainCtx); err != nil && runErr == nil {
			runErr = fmt.Errorf("drain %s: %w", s.name, err)
		}
	}
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	a.logger.Printf("stopped")
	return runErr
}

func (a *App) describe() string {
	parts := make([]string, len(a.components))
	for i, c := range a.components {
		parts[i] = fmt.Sprintf("%s on :%d", c, a.cfg.Ports[c])
	}
	return strings.Join(parts, ", ")
}

func (a *App) handler(component string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health(component))
	mux.HandleFunc("GET /plugins/{name}", a.pluginPage(component))
	mux.HandleFunc("GET /plugins", a.pluginList(component))
	switch component {
	case "backend":
		mux.HandleFunc("GET /api/info", a.info(component))
		mux.HandleFunc("GET /api/records", a.listRecords)
		mux.HandleFunc("GET /api/records/{id}", a.getRecord)
		mux.HandleFunc("PUT /api/records/{id}", a.putRecord)
	case "frontend", "public":
		mux.HandleFunc("GET /{$}", a.home(component))
		mux.HandleFunc("GET /records/{id}", a.proxyRecord)
	case "indexer":
		mux.HandleFunc("GET /status", a.indexStatus)
	}
	return a.stamp(component, mux)
}

// stamp puts the versions on every response, so a client can tell v1 from v2.
func (a *App) stamp(component string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Demo-Version", a.cfg.Version)
		w.Header().Set("X-Demo-Plugins", VersionHeader(a.plugins))
		w.Header().Set("X-Demo-Component", component)
		w.Header().Set("X-Demo-Host", a.hostname)
		h.ServeHTTP(w, r)
	})
}

func (a *App) health(component string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.stopping.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "stopping", "component": component})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "component": component})
	}
}

type infoBody struct {
	Component string            `json:"component"`
	Version   string            `json:"version"`
	Plugins   map[string]string `json:"plugins"`
	Host      string            `json:"host"`
	Backend   *infoBody         `json:"backend,omitempty"`
}

func (a *App) infoOf(component string) *infoBody {
	plugins := map[string]string{}
	for _, p := range a.plugins {
		plugins[p.Name] = p.Version
	}
	return &infoBody{Component: component, Version: a.cfg.Version, Plugins: plugins, Host: a.hostname}
}

func (a *App) info(component string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.infoOf(component)) }
}

// home is the frontend's and public UI's page: its own versions plus the backend's, fetched over
// HTTP like ArchivesSpace's UIs do.
func (a *App) home(component string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := a.infoOf(component)
		var backend infoBody
		if err := a.backendGet(r.Context(), "/api/info", &backend); err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		body.Backend = &backend
		writeJSON(w, http.StatusOK, body)
	}
}

type pluginBody struct {
	*Plugin
	Component string            `json:"component"`
	Status    string            `json:"status,omitempty"`
	Config    map[string]string `json:"config,omitempty"`
}

func (a *App) pluginPage(component string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, p := range a.plugins {
			if p.Name == r.PathValue("name") {
				writeJSON(w, http.StatusOK, pluginBody{Plugin: p, Component: component, Status: p.Status(),
					Config: a.pluginConfig(p)})
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such plugin"})
	}
}

func (a *App) pluginList(component string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.infoOf(component).Plugins)
	}
}

// pluginConfig shows the plugin's own config keys (plugin.<name>.*) and what it requires; values
// of required keys and of keys that look secret are shown only as a SHA-256 fingerprint, so a
// test can check a secret arrived without the secret ever being served.
func (a *App) pluginConfig(p *Plugin) map[string]string {
	out := map[string]string{}
	prefix := "plugin." + p.Name + "."
	for k, v := range a.cfg.Values {
		if strings.HasPrefix(k, prefix) {
			out[k] = maybeFingerprint(k, v)
		}
	}
	for _, k := range p.requires {
		out[k] = Fingerprint(a.cfg.Get(k))
	}
	return out
}

var secretish = regexp.MustCompile(`(?i)secret|token|password|key`)

func maybeFingerprint(key, value string) string {
	if secretish.MatchString(key) {
		return Fingerprint(value)
	}
	return value
}

// Fingerprint is "sha256:" and the first 12 hex digits of the value's SHA-256.
func Fingerprint(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (a *App) recordPath(id string) (string, bool) {
	if !validID.MatchString(id) {
		return "", false
	}
	return filepath.Join(a.cfg.DBDir, "records", id+".json"), true
}

func (a *App) putRecord(w http.ResponseWriter, r *http.Request) {
	path, ok := a.recordPath(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "id: use 1-64 letters, digits, _ or -"})
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(data) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: send a JSON document up to 1 MiB"})
		return
	}
	if err := writeAtomic(path, data); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "store failed"})
		a.logger.Printf("store record: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"stored": r.PathValue("id")})
}

func (a *App) getRecord(w http.ResponseWriter, r *http.Request) {
	path, ok := a.recordPath(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "id: use 1-64 letters, digits, _ or -"})
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such record"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func (a *App) listRecords(w http.ResponseWriter, r *http.Request) {
	ids, err := a.recordIDs()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "list failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": ids})
}

func (a *App) recordIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(a.cfg.DBDir, "records"))
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// proxyRecord is the UIs reading a record through the backend's API.
func (a *App) proxyRecord(w http.ResponseWriter, r *http.Request) {
	var rec any
	if err := a.backendGet(r.Context(), "/api/records/"+url.PathEscape(r.PathValue("id")), &rec); err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// backendGet calls the backend; one retry covers a replica that closed its connection while
// stopping (GET is idempotent), as a real UI's HTTP client would.
func (a *App) backendGet(ctx context.Context, path string, into any) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = a.backendGetOnce(ctx, path, into); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return err
}

func (a *App) backendGetOnce(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.BackendURL+path, nil)
	if err != nil {
		return fmt.Errorf("backend request: %w", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("backend unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backend answered %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeAtomic writes via a temp file in the same folder, so readers never see half a file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
