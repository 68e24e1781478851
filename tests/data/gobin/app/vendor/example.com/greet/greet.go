// Package greet is a module dependency vendored for the Go binary tests.
package greet

// Hello says hello.
func Hello() string { return "hello" }
