wrk.method = "POST"
wrk.body = '{"name":"bench"}'
