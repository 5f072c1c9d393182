package buildkit

import (
	"fmt"
	"os"
	"regexp"

	"github.com/moby/buildkit/client/llb"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/usererr"
)

// readSecrets reads each [build] secret from graft's environment or a file on graft's machine.
// The values go to BuildKit only through the session (secretsprovider), never into the LLB, so
// they are in no layer, config, history or cache key; a changed value does not re-run steps.
func readSecrets(plugin string, secrets []contract.Secret) (map[string][]byte, error) {
	out := make(map[string][]byte, len(secrets))
	for _, s := range secrets {
		if !secretID.MatchString(s.ID) {
			return nil, usererr.New("plugin %s: build secret id %q: use letters, digits, '.', '_' and '-' (it names /run/secrets/<id>)", plugin, s.ID)
		}
		v, err := readSecret(s)
		if err != nil {
			return nil, usererr.New("plugin %s: build secret %q: %v", plugin, s.ID, err)
		}
		out[s.ID] = v
	}
	return out, nil
}

var secretID = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func readSecret(s contract.Secret) ([]byte, error) {
	switch {
	case s.Env != "" && s.File != "":
		return nil, fmt.Errorf("give env or file, not both")
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set: set it for graft build", s.Env)
		}
		return []byte(v), nil
	case s.File != "":
		v, err := os.ReadFile(s.File)
		if err != nil {
			// The path error names the file, never its content.
			return nil, fmt.Errorf("cannot read its file: %w", err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("needs env or file")
}

// secretMounts mounts every secret at /run/secrets/<id>, readable by the steps' user only.
func secretMounts(req contract.StepRequest) []llb.RunOption {
	var opts []llb.RunOption
	for _, s := range req.Steps.Secrets {
		opts = append(opts, llb.AddSecret("/run/secrets/"+s.ID, llb.SecretID(s.ID),
			llb.SecretFileOpt(req.UID, req.GID, 0o400)))
	}
	return opts
}
