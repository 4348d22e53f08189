-- wrk script: POST an MI `nodes_run` of `uptime` on every node.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","method":"nodes_run","params":{"command":"uptime"},"id":1}'
wrk.headers["Content-Type"] = "application/json"
