package auth

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// Realm is the realm of the WWW-Authenticate challenges.
const Realm = "orderflow"

// Middleware authenticates every request that skip does not exempt (health checks, the OpenAPI
// document, metrics): it verifies the bearer token and puts its [Principal] in the request's context.
// A request without a valid token gets ErrUnauthenticated, which the error handler turns into a 401,
// with a WWW-Authenticate challenge (RFC 6750) set here.
func Middleware(v *Verifier, skip func(echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skip != nil && skip(c) {
				return next(c)
			}
			header := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, token, _ := strings.Cut(header, " ")
			if header == "" || !strings.EqualFold(scheme, "Bearer") {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+Realm+`"`)
				return ErrUnauthenticated
			}
			p, err := v.Verify(strings.TrimSpace(token))
			if err != nil {
				desc := strings.TrimPrefix(err.Error(), ErrUnauthenticated.Error()+": ")
				c.Response().Header().Set(echo.HeaderWWWAuthenticate,
					`Bearer realm="`+Realm+`", error="invalid_token", error_description="`+desc+`"`)
				return err
			}
			req := c.Request()
			c.SetRequest(req.WithContext(WithPrincipal(req.Context(), p)))
			return next(c)
		}
	}
}

// RequireRole refuses, with ErrForbidden, a request whose principal has a weaker role than role. Put
// it on routes after Middleware; with authentication off it lets everything through.
func RequireRole(role Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := FromContext(c.Request().Context()).Require(role); err != nil {
				return err
			}
			return next(c)
		}
	}
}
