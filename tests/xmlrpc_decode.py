"""Decodes XML-RPC methodResponse bodies (a JSON list on stdin) with Python's own
xmlrpc.client, printing a JSON list of {"params": [...]} or {"fault": {...}} (or null for
a body that is not a methodResponse)."""
import json
import sys
import xmlrpc.client

out = []
for body in json.load(sys.stdin):
    try:
        params, _ = xmlrpc.client.loads(body)
        out.append({"params": list(params)})
    except xmlrpc.client.Fault as fault:
        out.append({"fault": {"faultCode": fault.faultCode, "faultString": fault.faultString}})
    except Exception:
        out.append(None)
json.dump(out, sys.stdout)
