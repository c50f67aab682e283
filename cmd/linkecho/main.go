//go:debug updatemaxprocs=0
package main

import (
	"os"
	"runtime"

	"github.com/spinwire/spinwire/cmd/internal/echo"
)

func init() { runtime.LockOSThread() }

func main() { os.Exit(echo.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
