module leakhound.test/apps

go 1.19
