module example.com/missingdep

go 1.22

require example.com/nowhere v1.2.3
