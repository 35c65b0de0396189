package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/eval"
	"github.com/agentic-iga/iga/services/agent/planner"
)

// newEvalCmd scores the agent's planner (built-in by default) on a JSONL file of conversations.
func newEvalCmd(g *globals) *cobra.Command {
	var casesPath, dataDir, plannerName string
	var gem planner.GeminiConfig
	var verbose, strict bool
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Score the IG agent on recorded conversations (offline, against a directory)",
		Long: `Plays each conversation of a JSONL file through the agent's planner and tools, offline:
the directory and catalog come from --data, policy, approvals and the grants ledger are
in-memory stand-ins (risk-based policy, managers and owners as approvers). Prints top-1
resolution accuracy, clarification precision and recall, duration accuracy, the
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
					gem.APIKey = os.Getenv("IGA_GEMINI_API_KEY")
				}
				factory = eval.Gemini(gem)
			default:
				return fmt.Errorf("--planner %q: use builtin or gemini", plannerName)
			}
			rep, err := eval.Run(context.Background(), snap, cases, factory)
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
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the transcript of each failing conversation")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit non-zero when a goal is not met")
	cmd.Flags().StringVar(&plannerName, "planner", "builtin", "planner to score: builtin or gemini")
	cmd.Flags().StringVar(&gem.APIKey, "gemini-api-key", "", "Gemini API key (env IGA_GEMINI_API_KEY)")
	cmd.Flags().StringVar(&gem.Model, "gemini-model", "gemini-2.5-flash", "Gemini model")
	cmd.Flags().StringVar(&gem.BaseURL, "gemini-base-url", "", "Gemini API base URL (empty: Google's)")
	cmd.Flags().DurationVar(&gem.Timeout, "gemini-timeout", 20*time.Second, "time limit of one Gemini planning turn")
	return cmd
}
