package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Plain words for the failures a user can do nothing about but wait or start iga.
const (
	msgUnavailable = "iga is not reachable: is `iga dev` running?"
	msgTimeout     = "iga did not answer in time; try again in a moment"
	msgInternal    = "iga hit an internal error; the server log has the details"
)

// httpError maps a gRPC error to an HTTP status and a sentence for the user. The services'
// own messages for caller mistakes (invalid argument, permission, not found, conflict) are
// written for users and pass through; internal details never do.
func httpError(err error) (int, string) {
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, msgTimeout
	}
	st, ok := status.FromError(err)
	if !ok {
		return http.StatusInternalServerError, msgInternal
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest, msg
	case codes.Unauthenticated:
		return http.StatusUnauthorized, msg
	case codes.PermissionDenied:
		return http.StatusForbidden, msg
	case codes.NotFound:
		return http.StatusNotFound, msg
	case codes.AlreadyExists, codes.Aborted, codes.FailedPrecondition:
		return http.StatusConflict, msg
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests, msg
	case codes.Unimplemented:
		return http.StatusNotImplemented, "this iga does not offer that yet"
	case codes.Unavailable:
		return http.StatusServiceUnavailable, msgUnavailable
	case codes.DeadlineExceeded:
		// A service that gave up waiting says on what (intake: "the agent did not answer
		// in 15s; ..."); the client's own deadline says only "context deadline exceeded".
		if msg == "" || strings.Contains(msg, "context deadline exceeded") {
			return http.StatusGatewayTimeout, msgTimeout
		}
		return http.StatusGatewayTimeout, msg
	case codes.Canceled:
		return http.StatusServiceUnavailable, "the call was cancelled; try again"
	default:
		return http.StatusInternalServerError, msgInternal
	}
}
