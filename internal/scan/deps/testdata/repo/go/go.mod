module example.com/app

go 1.22.1

require (
	golang.org/x/net v0.17.0
	golang.org/x/text v0.14.0 // indirect
)
