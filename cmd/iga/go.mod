module github.com/agentic-iga/iga/cmd/iga

go 1.26.0

require github.com/spf13/cobra v1.10.2

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace github.com/agentic-iga/iga/pkg => ../../pkg
