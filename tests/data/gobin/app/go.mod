module example.com/app

go 1.18

require example.com/greet v0.3.1
