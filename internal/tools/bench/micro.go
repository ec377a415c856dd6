package main

import (
	"os/exec"
	"regexp"
)

// microResult is the Go micro-benchmarks' output and the rows taken from it.
type microResult struct {
	raw  string
	rows []row
}

// microBenchmarks runs the testing.B benchmarks of the policy and the
// handlers with -benchmem.
func microBenchmarks(root string) microResult {
	benchtime := "1s"
	if *smoke {
		benchtime = "1x"
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime,
		"./refresh/", "./bff/", "./bff/cookies/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	check(errorf(err, out))
	res := microResult{raw: string(out)}
	for _, m := range regexp.MustCompile(`(?m)^Benchmark([\w/]+)-\d+\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`).FindAllStringSubmatch(res.raw, -1) {
		r := row{figure: "Go: " + m[1], ours: m[2] + " ns/op, " + m[4] + " allocs/op"}
		switch m[1] {
		case "DoValidToken":
			r.figure, r.bar, r.met = "Go: policy hot path, a call with a valid token", "0 allocs/op", m[4] == "0"
		case "OpenSeal/12KB":
			r.figure = "Go: open + seal of a 12 KB session (an 8 KB access token's): every proxied call opens, every refresh seals"
		case "OpenSeal/43B":
			r.figure = "Go: open + seal of a session of 43-byte tokens"
		}
		res.rows = append(res.rows, r)
	}
	return res
}
