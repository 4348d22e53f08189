-- wrk script: POST an MI `uptime` request.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","method":"uptime","id":1}'
wrk.headers["Content-Type"] = "application/json"
