package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/eval"
	"github.com/agentic-iga/iga/services/agent/planner"
)

// newEvalCmd scores the agent's planner (built-in by default) on a JSONL file of conversations.
func newEvalCmd(g *globals) *cobra.Command {
	var casesPath, dataDir, plannerName, policyPath string
	var gem planner.GeminiConfig
	var verbose, strict bool
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score the IG agent on recorded conversations (offline, against a directory)",
		Long: `Plays each conversation of a JSONL file through the agent's planner and tools, offline:
the directory and catalog come from --data; policy decides with the real policy engine
over --policy (default: the policy.yaml beside the directory) and approvers are routed as
the approval service routes them; the grants ledger is in memory, holding what each case
says its people hold. --policy inmem uses a simple risk-based stand-in instead. Prints
top-1 resolution accuracy, clarification precision and recall, duration accuracy, the
over-permission rate, and every failing conversation. The file format is described in
services/agent/testdata/eval/README.md.`,
		Example: "  iga eval --cases services/agent/testdata/eval/dev.jsonl --data deploy/demo\n  iga eval --cases my.jsonl --verbose --strict",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := directory.LoadDir(dataDir)
			if err != nil {
				return fmt.Errorf("load directory: %w", err)
			}
			f, err := os.Open(casesPath)
			if err != nil {
				return err
			}
			defer f.Close()
			cases, err := eval.LoadCases(f)
			if err != nil {
				return fmt.Errorf("%s: %w", casesPath, err)
			}
			factory := eval.Builtin
			switch plannerName {
			case "builtin":
			case "gemini":
				if gem.APIKey == "" {
					gem.APIKey = geminiKeyFromEnv()
				}
				factory = eval.Gemini(gem)
			default:
				return fmt.Errorf("--planner %q: use builtin or gemini", plannerName)
			}
			var opts []eval.Option
			switch {
			case policyPath == "inmem":
			default:
				if policyPath == "" {
					policyPath = filepath.Join(dataDir, "policy.yaml")
				}
				opt, err := demoPolicy(policyPath)
				if err != nil {
					return fmt.Errorf("policy: %w", err)
				}
				opts = append(opts, opt)
			}
			rep, err := eval.Run(context.Background(), snap, cases, factory, opts...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep.Summary()); err != nil {
					return err
				}
			} else {
				rep.Print(out, verbose)
			}
			if strict && !rep.Passed() {
				return eval.ErrGoalsNotMet
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&casesPath, "cases", "services/agent/testdata/eval/dev.jsonl", "JSONL file of conversations")
	cmd.Flags().StringVar(&dataDir, "data", "deploy/demo", "directory holding people.yaml and catalog.yaml")
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file to decide with (default <data>/policy.yaml); inmem: the risk-based stand-in")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the transcript of each failing conversation")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit non-zero when a goal is not met")
	cmd.Flags().StringVar(&plannerName, "planner", "builtin", "planner to score: builtin or gemini")
	cmd.Flags().StringVar(&gem.APIKey, "gemini-api-key", "", "Gemini API key (env IGA_GEMINI_API_KEY or GEMINI_API_KEY)")
	cmd.Flags().StringVar(&gem.Model, "gemini-model", "gemini-2.5-flash", "Gemini model")
	cmd.Flags().StringVar(&gem.BaseURL, "gemini-base-url", "", "Gemini API base URL (empty: Google's)")
	cmd.Flags().DurationVar(&gem.Timeout, "gemini-timeout", 20*time.Second, "time limit of one Gemini planning turn")
	return cmd
}

// geminiKeyFromEnv is the Gemini API key from the environment: IGA_GEMINI_API_KEY as the
// service reads it, else GEMINI_API_KEY as Google's tools name it.
func geminiKeyFromEnv() string {
	if k := os.Getenv("IGA_GEMINI_API_KEY"); k != "" {
		return k
	}
	return os.Getenv("GEMINI_API_KEY")
}
