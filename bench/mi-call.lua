-- wrk script: POST the MI request in the environment variable MI_BODY.
wrk.method = "POST"
wrk.body = os.getenv("MI_BODY")
wrk.headers["Content-Type"] = "application/json"
