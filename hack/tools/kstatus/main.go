// kstatus prints the kstatus (sigs.k8s.io/cli-utils/pkg/kstatus) verdict of Kubernetes objects:
// the status Flux's `wait: true`, `kubectl wait`-style tooling and cli-utils' appliers compute
// for any resource, custom resources included, from the standard status conventions
// (observedGeneration, Ready, Reconciling, Stalled).
//
// Usage:
//
//	kstatus [FILE...]          read objects from the files ("-" or none: standard input)
//	kubectl get towns -A -o json | kstatus
//
// Input: YAML (one or many documents separated by ---) or JSON; a List (kind: List, or any
// kind ending in "List" with items, as `kubectl get -o json` prints) is expanded into its items.
// Output: one JSON object per line, one line per object, in input order:
//
//	{"apiVersion":"gastown.dev/v1alpha1","kind":"Convoy","namespace":"demo","name":"login",
//	 "status":"InProgress","message":"...","conditions":[{"type":"Reconciling",...}]}
//
// status is one of InProgress, Failed, Current, Terminating, NotFound, Unknown (kstatus'
// values). An object kstatus cannot evaluate is printed with status "Unknown" and an "error"
// field. Exit status: 0 when every object was evaluated, 1 when one could not be, 2 on bad
// input (unreadable file, not YAML/JSON, a document that is not an object).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Namespace  string             `json:"namespace,omitempty"`
	Name       string             `json:"name"`
	Status     string             `json:"status"`
	Message    string             `json:"message"`
	Conditions []status.Condition `json:"conditions"`
	Error      string             `json:"error,omitempty"`
}

func main() {
	files := os.Args[1:]
	if len(files) == 1 && (files[0] == "-h" || files[0] == "--help") {
		fmt.Println("usage: kstatus [FILE...]   (YAML or JSON objects or Lists; '-' or none reads stdin)")
		return
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	var objects []map[string]any
	for _, f := range files {
		objs, err := readObjects(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", f, err)
			os.Exit(2)
		}
		objects = append(objects, objs...)
	}
	out := json.NewEncoder(os.Stdout)
	failed := false
	for _, o := range objects {
		u := &unstructured.Unstructured{Object: o}
		v := verdict{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
		res, err := status.Compute(u)
		if err != nil {
			failed = true
			v.Status, v.Error = string(status.UnknownStatus), err.Error()
		} else {
			v.Status, v.Message, v.Conditions = string(res.Status), res.Message, res.Conditions
		}
		if v.Conditions == nil {
			v.Conditions = []status.Condition{}
		}
		if err := out.Encode(v); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: writing output: %v\n", err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func readObjects(file string) ([]map[string]any, error) {
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	// The decoder takes JSON or YAML documents alike (JSON is YAML). Each document is decoded
	// again by apimachinery's JSON, which keeps whole numbers int64 as unstructured objects need
	// (metadata.generation as a float64 is an error to kstatus).
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []map[string]any
	for i := 1; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var doc map[string]any
		if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			if err := utiljson.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("document %d: %w", i, err)
			}
		}
		if doc == nil {
			continue // an empty document between two ---
		}
		expanded, err := expand(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		objects = append(objects, expanded...)
	}
}

// expand turns a List into its items; any other object is returned as is.
func expand(doc map[string]any) ([]map[string]any, error) {
	kind, _ := doc["kind"].(string)
	items, hasItems := doc["items"]
	if !strings.HasSuffix(kind, "List") || !hasItems {
		if kind == "" {
			return nil, errors.New("not a Kubernetes object: no kind")
		}
		return []map[string]any{doc}, nil
	}
	list, ok := items.([]any)
	if !ok && items != nil {
		return nil, fmt.Errorf("%s: items is not a list", kind)
	}
	out := make([]map[string]any, 0, len(list))
	for j, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: item %d is not an object", kind, j)
		}
		out = append(out, obj)
	}
	return out, nil
}
