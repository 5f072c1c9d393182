package dockerconfig

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/graft-build/graft/internal/usererr"
)

// CheckLogin asks the registry, as docker login does: a token exchange (bearer) or the /v2/
// endpoint itself (basic) with the credentials. A refusal is bad input; the password is in no
// message.
func CheckLogin(ctx context.Context, reg name.Registry, user, pw string) error {
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: pw})
	rt, err := transport.NewWithContext(ctx, reg, auth, http.DefaultTransport, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(reg, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(reg, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return usererr.New("login %s: the registry refused user %q (%s); check the user and password or token", reg.RegistryStr(), user, resp.Status)
	case resp.StatusCode >= 300:
		return fmt.Errorf("login %s: the registry answered %s", reg.RegistryStr(), resp.Status)
	}
	return nil
}

func loginError(reg name.Registry, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return usererr.New("login %s: the registry refused the credentials (%d); check the user and password or token", reg.RegistryStr(), te.StatusCode)
	}
	return fmt.Errorf("login %s: %w", reg.RegistryStr(), err)
}
