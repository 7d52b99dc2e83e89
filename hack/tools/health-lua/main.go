// health-lua runs Argo CD resource health scripts (health.lua) the way Argo CD does: in
// gopher-lua, the Lua VM Argo CD embeds, with the object as the global `obj`, a one-second
// deadline, and only the libraries Argo CD opens for scripts configured in argocd-cm without
// `resource.customizations.useOpenLibs` (base, table, package; no string, os or io). A script
// that passes here therefore runs unchanged from argocd-cm.
//
// Usage:
//
//	health-lua test DIR          every DIR/**/health.lua against its health_test.yaml, in Argo
//	                             CD's fixture layout: tests: [{inputPath, healthStatus: {status,
//	                             message}}], inputPath relative to the script's directory.
//	                             Prints one line per case and "N passed, N failed"; exit 1 on
//	                             any failure.
//	health-lua eval SCRIPT [FILE]   the script's verdict on the object in FILE (YAML or JSON;
//	                             stdin when absent or "-"), as JSON: {"status":..,"message":..}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// Argo CD's health status codes (gitops-engine pkg/health).
var validStatus = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type testFile struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus health `json:"healthStatus"`
	} `json:"tests"`
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	switch os.Args[1] {
	case "test":
		os.Exit(runTests(os.Args[2]))
	case "eval":
		file := "-"
		if len(os.Args) > 3 {
			file = os.Args[3]
		}
		h, err := evalFile(os.Args[2], file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "health-lua: %v\n", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(h)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: health-lua test DIR | health-lua eval SCRIPT [FILE]")
	os.Exit(2)
}

func evalFile(script, file string) (health, error) {
	src, err := os.ReadFile(script)
	if err != nil {
		return health{}, err
	}
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return health{}, err
	}
	obj, err := parseObject(data)
	if err != nil {
		return health{}, fmt.Errorf("%s: %w", file, err)
	}
	return execute(string(src), obj)
}

func parseObject(data []byte) (map[string]any, error) {
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("no object in the input")
	}
	return obj, nil
}

func runTests(root string) int {
	var scripts []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "health.lua" {
			scripts = append(scripts, path)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "health-lua: %v\n", err)
		return 2
	}
	if len(scripts) == 0 {
		fmt.Fprintf(os.Stderr, "health-lua: no health.lua under %s\n", root)
		return 2
	}
	sort.Strings(scripts)
	passed, failed := 0, 0
	for _, script := range scripts {
		dir := filepath.Dir(script)
		rel, _ := filepath.Rel(root, dir)
		src, err := os.ReadFile(script)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", rel, err)
			failed++
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		var tests testFile
		if err == nil {
			err = yaml.Unmarshal(raw, &tests)
		}
		if err == nil && len(tests.Tests) == 0 {
			err = errors.New("health_test.yaml lists no tests")
		}
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", rel, err)
			failed++
			continue
		}
		for _, tc := range tests.Tests {
			name := filepath.ToSlash(filepath.Join(rel, tc.InputPath))
			data, err := os.ReadFile(filepath.Join(dir, tc.InputPath))
			var got health
			if err == nil {
				var obj map[string]any
				if obj, err = parseObject(data); err == nil {
					got, err = execute(string(src), obj)
				}
			}
			switch {
			case err != nil:
				fmt.Printf("FAIL %s: %v\n", name, err)
				failed++
			case got != tc.HealthStatus:
				fmt.Printf("FAIL %s: expected %s %q, got %s %q\n", name, tc.HealthStatus.Status, tc.HealthStatus.Message, got.Status, got.Message)
				failed++
			default:
				fmt.Printf("PASS %s: %s %q\n", name, got.Status, got.Message)
				passed++
			}
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// execute mirrors Argo CD's VM.runLua + ExecuteHealthLua for a script from argocd-cm.
func execute(script string, obj map[string]any) (health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	status, ok := ret.RawGetString("status").(lua.LString)
	if !ok || !validStatus[string(status)] {
		return health{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	h := health{Status: string(status)}
	switch m := ret.RawGetString("message").(type) {
	case lua.LString:
		h.Message = string(m)
	case *lua.LNilType:
	default:
		return health{}, fmt.Errorf("message must be a string, not %s", m.Type())
	}
	return h, nil
}

// toLua converts decoded JSON as Argo CD's decodeValue does: objects and arrays become tables,
// numbers LNumber, null nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}
