package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// The plugin repositories look like ArchivesSpace plugins: tens to a couple of hundred small
// Ruby, ERB and YAML files, and in the bigger ones a few megabytes of already-compressed assets
// (jars, images) plus some semi-compressible data. Content comes from a seeded PRNG, so every
// run and every machine gets the same bytes, and the same commit SHAs (fixed dates and author).

// pluginName is the name (folder and repository) of plugin i.
func pluginName(i int) string { return fmt.Sprintf("plugin-%02d", i) }

// pluginRef is the ref plugin i is locked at: most follow main, every third a release tag,
// as sites do.
func pluginRef(i int) string {
	if i%3 == 2 {
		return "v1.0.0"
	}
	return "main"
}

var words = strings.Fields(`def end class module require if else elsif unless return self
	record resource repository accession archival_object agent subject digital_object json
	params user config AppConfig frontend backend indexer public solr search each map select
	nil true false do yield raise rescue ensure attr_reader permissions enum uri ref lock_version
	title identifier extent date note instance container location event classification`)

// pluginFiles returns the files of plugin i (path -> content). large plugins carry assets.
func pluginFiles(seed uint64, i int, large bool) map[string][]byte {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	files := map[string][]byte{}
	name := pluginName(i)
	nText := 5 + rng.IntN(16)
	if large {
		nText = 40 + rng.IntN(120)
	}
	dirs := []string{"backend/model", "backend/controllers", "frontend/controllers", "frontend/views/" + name,
		"frontend/locales", "public/views", "indexer", "schemas", "migrations"}
	exts := []string{".rb", ".rb", ".rb", ".html.erb", ".yml", ".erb", ".rb", ".rb", ".rb"}
	for f := 0; f < nText; f++ {
		d := rng.IntN(len(dirs))
		p := fmt.Sprintf("%s/%s_%03d%s", dirs[d], strings.ReplaceAll(name, "-", "_"), f, exts[d])
		files[p] = sourceText(rng, 200+rng.IntN(16<<10))
	}
	files["README.md"] = sourceText(rng, 2<<10)
	if !large {
		return files
	}
	for a, n := 0, 1+rng.IntN(3); a < n; a++ {
		size := 256<<10 + rng.IntN(3<<20)
		switch a % 3 {
		case 0:
			files[fmt.Sprintf("frontend/assets/vendor-%d.jar", a)] = randomBytes(rng, size)
		case 1:
			files[fmt.Sprintf("frontend/assets/images/banner-%d.png", a)] = randomBytes(rng, size)
		default:
			files[fmt.Sprintf("db/seed-%d.dat", a)] = lowEntropyBytes(rng, size)
		}
	}
	return files
}

// sourceText is code-like text of about n bytes (compresses roughly 3-4×, like real source).
func sourceText(rng *rand.Rand, n int) []byte {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(strings.Repeat("  ", rng.IntN(4)))
		for w, nw := 0, 2+rng.IntN(8); w < nw; w++ {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(" ._(:"[rng.IntN(5)])
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// randomBytes is incompressible, like a jar or a PNG.
func randomBytes(rng *rand.Rand, n int) []byte {
	out := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8; k++ {
			out[i+k] = byte(v >> (8 * k))
		}
	}
	return out
}

// lowEntropyBytes compresses about 2×, like a data dump.
func lowEntropyBytes(rng *rand.Rand, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(rng.IntN(16)) + 'a'
	}
	return out
}

// gitEnv makes commits deterministic: fixed author, committer and dates, no user config.
func gitEnv(date string) []string {
	return []string{
		"GIT_AUTHOR_NAME=graft bench", "GIT_AUTHOR_EMAIL=bench@graft.invalid",
		"GIT_COMMITTER_NAME=graft bench", "GIT_COMMITTER_EMAIL=bench@graft.invalid",
		"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
	}
}

// pluginRepo is a bare repository under the served folder plus the work tree it is committed from.
type pluginRepo struct {
	name string
	bare string
	work string
}

func (r *pluginRepo) git(ctx context.Context, date string, args ...string) (string, error) {
	args = append([]string{"--git-dir=" + r.bare, "--work-tree=" + r.work}, args...)
	return runCmd(ctx, cmdSpec{dir: r.work, env: gitEnv(date)}, "git", args...)
}

// ensureRepos creates plugin repositories 0..n-1 that do not exist yet; the first `large` of them
// carry assets.
func (b *bench) ensureRepos(ctx context.Context, n, large int) ([]*pluginRepo, error) {
	var repos []*pluginRepo
	for i := 0; i < n; i++ {
		r, err := b.ensureRepo(ctx, i, i < large)
		if err != nil {
			return nil, err
		}
		repos = append(repos, r)
	}
	return repos, nil
}

func (b *bench) ensureRepo(ctx context.Context, i int, large bool) (*pluginRepo, error) {
	name := pluginName(i)
	r := &pluginRepo{name: name, bare: filepath.Join(b.reposDir(), name+".git"), work: filepath.Join(b.tmp, "work", name)}
	if _, err := os.Stat(r.bare); err == nil {
		return r, nil
	}
	for p, data := range pluginFiles(b.cfg.seed, i, large) {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			return nil, err
		}
	}
	return r, b.initRepo(ctx, r)
}

// initRepo makes r.bare from the files in r.work: one commit on main, tagged v1.0.0.
func (b *bench) initRepo(ctx context.Context, r *pluginRepo) error {
	name := r.name
	date := "2026-01-01T00:00:00Z"
	steps := [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=main", r.bare},
		{"config", "http.receivepack", "false"},
		// As GitHub and GitLab do: fetching a bare SHA, and partial (blobless) fetches.
		{"config", "uploadpack.allowReachableSHA1InWant", "true"},
		{"config", "uploadpack.allowFilter", "true"},
		{"add", "-A"},
		{"commit", "--quiet", "-m", "Initial import of " + name},
		{"tag", "-a", "v1.0.0", "-m", "Release 1.0.0"},
		// Packed, with a bitmap, as forges keep repositories: upload-pack then reuses the
		// stored deltas and compressed objects instead of compressing loose objects per request.
		{"repack", "-a", "-d", "-q", "--write-bitmap-index"},
	}
	for _, s := range steps {
		var err error
		if s[0] == "init" {
			_, err = runCmd(ctx, cmdSpec{env: gitEnv(date)}, "git", s...)
		} else {
			_, err = r.git(ctx, date, s...)
		}
		if err != nil {
			return fmt.Errorf("create repository %s: %w", name, err)
		}
	}
	return nil
}

// change commits a small edit to one file on main, as a plugin fix would; n makes it unique.
func (r *pluginRepo) change(ctx context.Context, n int) error {
	p := filepath.Join(r.work, "README.md")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "\nChange %d: fix the accession form.\n", n)
	if err := f.Close(); err != nil {
		return err
	}
	date := fmt.Sprintf("2026-01-02T00:%02d:%02dZ", n/60%60, n%60)
	if _, err := r.git(ctx, date, "add", "-A"); err != nil {
		return err
	}
	_, err = r.git(ctx, date, "commit", "--quiet", "-m", fmt.Sprintf("Fix the accession form (%d)", n))
	return err
}

// commit is the SHA the repository's main branch points at.
func (r *pluginRepo) head(ctx context.Context) (string, error) {
	out, err := r.git(ctx, "", "rev-parse", "main")
	return strings.TrimSpace(out), err
}

// siteSpec is a site repository to write.
type siteSpec struct {
	dir     string
	base    string
	name    string
	gitURL  string // the git server's URL
	plugins int
}

// writeSite writes graft.toml and plugins/<name>/plugin.toml for plugins 0..n-1.
func writeSite(s siteSpec) error {
	site := fmt.Sprintf(`base = %q
name = %q
plugins_dir = "/app/plugins"
owner = "1000:1000"

[launcher]
tmp_dir = "/app/data/tmp"
port_dir = "/run/graft/ports"
`, s.base, s.name)
	if err := writeFile(filepath.Join(s.dir, "graft.toml"), site); err != nil {
		return err
	}
	for i := 0; i < s.plugins; i++ {
		name := pluginName(i)
		def := fmt.Sprintf("[source]\ngit = %q\nref = %q\n", s.gitURL+"/"+name+".git", pluginRef(i))
		if err := writeFile(filepath.Join(s.dir, "plugins", name, "plugin.toml"), def); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
