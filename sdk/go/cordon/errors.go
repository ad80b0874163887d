package cordon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	pb "cordon.dev/sdk/go/cordonpb"
)

// Code is an absl::StatusCode / google.rpc.Code value, as carried by cordon.v1.Error.
type Code int32

// The codes a cordon error can carry.
const (
	OK                 Code = 0
	Cancelled          Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

var codeNames = map[Code]string{
	OK: "OK", Cancelled: "CANCELLED", Unknown: "UNKNOWN", InvalidArgument: "INVALID_ARGUMENT",
	DeadlineExceeded: "DEADLINE_EXCEEDED", NotFound: "NOT_FOUND", AlreadyExists: "ALREADY_EXISTS",
	PermissionDenied: "PERMISSION_DENIED", ResourceExhausted: "RESOURCE_EXHAUSTED",
	FailedPrecondition: "FAILED_PRECONDITION", Aborted: "ABORTED", OutOfRange: "OUT_OF_RANGE",
	Unimplemented: "UNIMPLEMENTED", Internal: "INTERNAL", Unavailable: "UNAVAILABLE",
	DataLoss: "DATA_LOSS", Unauthenticated: "UNAUTHENTICATED",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE(%d)", int32(c))
}

// Source says who produced an Error.
type Source int32

const (
	// SourceDaemon: the daemon refused or could not perform the request.
	SourceDaemon Source = Source(pb.ControlErrorSource_ERROR_SOURCE_DAEMON)
	// SourcePlugin: the plugin answered the call with its own structured error.
	SourcePlugin Source = Source(pb.ControlErrorSource_ERROR_SOURCE_PLUGIN)
	// SourceSandbox: the plugin failed under the call (crash, timeout, quota, violation).
	SourceSandbox Source = Source(pb.ControlErrorSource_ERROR_SOURCE_SANDBOX)
)

func (s Source) String() string {
	switch s {
	case SourceDaemon:
		return "daemon"
	case SourcePlugin:
		return "plugin"
	case SourceSandbox:
		return "sandbox"
	}
	return "unknown"
}

// Error is a structured error from the daemon or the plugin. Use errors.As to get at it;
// errors.Is(err, context.DeadlineExceeded) holds for a call the daemon timed out.
type Error struct {
	Code    Code
	Message string
	Details map[string]string
	Source  Source
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cordon: %s error %s: %s", e.Source, e.Code, e.Message)
	if len(e.Details) > 0 {
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " [%s=%s]", k, e.Details[k])
		}
	}
	return b.String()
}

// Is makes a daemon-side deadline or cancellation match the context errors.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == DeadlineExceeded
	case context.Canceled:
		return e.Code == Cancelled
	}
	return false
}

// ErrClosed is returned for requests on a client whose connection is gone.
var ErrClosed = errors.New("cordon: connection to the daemon is closed")

func errorFromProto(e *pb.Error, source pb.ControlErrorSource) *Error {
	out := &Error{Code: Code(e.GetCode()), Message: e.GetMessage(), Source: Source(source)}
	if out.Source == 0 {
		out.Source = SourceDaemon
	}
	if len(e.GetDetails()) > 0 {
		out.Details = make(map[string]string, len(e.GetDetails()))
		for k, v := range e.GetDetails() {
			out.Details[k] = v
		}
	}
	return out
}
