module github.com/fetch-with-refresh/fetch-with-refresh

go 1.26.8

require github.com/stretchr/testify v1.12.1

require (
	github.com/andybalholm/brotli v1.3.0 // indirect
	github.com/hack-pad/safejs v0.1.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
