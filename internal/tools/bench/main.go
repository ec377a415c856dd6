// Command bench measures fetch-with-refresh against baselines measured in
// the same run (`make bench`): sizes, start-up and per-call overhead in
// Chromium, a 1,000-call storm, the server under load, and the Go
// micro-benchmarks. It prints one Markdown table and writes it, with the
// versions and machine notes, to bench/results.md. -smoke runs one short
// iteration of everything (make test does), to keep it working.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	figure   string
	ours     string
	baseline string
	ratio    float64 // ours / baseline; 0 when there is none
	bar      string
	met      bool
}

var (
	smoke = flag.Bool("smoke", false, "one short iteration of each benchmark, to check that they work")
	only  = flag.String("only", "", "run one group of figures: sizes, browser (or only its startup or calls), server or micro (bench/results.md is not written)")
)

func main() {
	flag.Parse()
	root, err := filepath.Abs(".")
	check(err)
	start := time.Now()
	var rows []row
	want := func(group string) bool { return *only == "" || *only == group }
	if want("sizes") {
		rows = append(rows, sizes(root)...)
	}
	if startup, calls := want("browser") || want("startup"), want("browser") || want("calls"); startup || calls {
		rows = append(rows, browser(root, startup, calls)...)
	}
	if want("server") {
		rows = append(rows, server(root)...)
	}
	var micro microResult
	if want("micro") {
		micro = microBenchmarks(root)
		rows = append(rows, micro.rows...)
	}

	table := render(rows)
	fmt.Print(table)
	if *smoke || *only != "" {
		what := "bench smoke run"
		if !*smoke {
			what = "bench -only " + *only
		}
		fmt.Printf("%s: %d figures in %s\n", what, len(rows), time.Since(start).Round(time.Second))
		return
	}
	notes := fmt.Sprintf("Measured %s by `make bench` in %s. %s, %s, %d CPUs (%s/%s). Medians; each baseline measured in the same run.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), time.Since(start).Round(time.Second),
		runtime.Version(), chromiumVersion(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	out := "# make bench results\n\n" + notes + "\n" + table + "\n## Go micro-benchmarks\n\n```\n" + micro.raw + "```\n"
	check(os.MkdirAll(filepath.Join(root, "bench"), 0o755))
	check(os.WriteFile(filepath.Join(root, "bench", "results.md"), []byte(out), 0o644))
	fmt.Println("\nwritten to bench/results.md")
}

func render(rows []row) string {
	var b strings.Builder
	b.WriteString("| figure | ours | baseline | ratio | bar | met |\n|---|---:|---:|---:|---|:-:|\n")
	for _, r := range rows {
		ratio := "–"
		if r.ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		met := "yes"
		if !r.met {
			met = "**no**"
		}
		if r.bar == "" {
			met = ""
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.figure, r.ours, r.baseline, ratio, r.bar, met)
	}
	return b.String()
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// iterations returns full, or 1 in a smoke run.
func iterations(full int) int {
	if *smoke {
		return 1
	}
	return full
}
