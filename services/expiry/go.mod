module github.com/agentic-iga/iga/services/expiry

go 1.26.0

require github.com/agentic-iga/iga/pkg v0.0.0

replace github.com/agentic-iga/iga/pkg => ../../pkg
