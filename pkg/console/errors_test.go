package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestHTTPError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{status.Error(codes.InvalidArgument, "duration is too long"), http.StatusBadRequest, "duration is too long"},
		{status.Error(codes.PermissionDenied, "you cannot approve your own request"), http.StatusForbidden, "you cannot approve your own request"},
		{status.Error(codes.NotFound, "no approval r-1"), http.StatusNotFound, "no approval r-1"},
		{status.Error(codes.FailedPrecondition, "already approved"), http.StatusConflict, "already approved"},
		{status.Error(codes.AlreadyExists, "exists"), http.StatusConflict, "exists"},
		{status.Error(codes.Unauthenticated, "sign in"), http.StatusUnauthorized, "sign in"},
		{status.Error(codes.ResourceExhausted, "slow down"), http.StatusTooManyRequests, "slow down"},
		{status.Error(codes.Unavailable, "connection refused"), http.StatusServiceUnavailable, msgUnavailable},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), http.StatusGatewayTimeout, msgTimeout},
		{status.Error(codes.DeadlineExceeded, "the agent did not answer in 15s; is the agent service running?"), http.StatusGatewayTimeout, "the agent did not answer in 15s; is the agent service running?"},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), http.StatusGatewayTimeout, msgTimeout},
		{status.Error(codes.Unimplemented, "unknown service iga.v1.EventsService"), http.StatusNotImplemented, "this iga does not offer that yet"},
		// Internal details stay in the log, never reach the user.
		{status.Error(codes.Internal, "redis: connection pool exhausted"), http.StatusInternalServerError, msgInternal},
		{status.Error(codes.Unknown, "panic in handler"), http.StatusInternalServerError, msgInternal},
		{errors.New("plain error"), http.StatusInternalServerError, msgInternal},
	} {
		code, msg := httpError(tc.err)
		if code != tc.code || msg != tc.msg {
			t.Errorf("%v: got %d %q, want %d %q", tc.err, code, msg, tc.code, tc.msg)
		}
	}
}
