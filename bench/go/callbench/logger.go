package main

import (
	"io"

	"github.com/hashicorp/go-hclog"
)

// quietLogger keeps go-plugin's debug chatter out of the results.
func quietLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Error})
}
