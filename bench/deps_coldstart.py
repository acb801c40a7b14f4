"""Cold starts of examples/fastapi with and without the bytecode ondol's build
compiles (unchecked-hash .pyc files), side by side on one server: the same
installed tree, zipped with and without its __pycache__ dirs. Prints the median
Init Duration of N cold starts of each. Usage: deps_coldstart.py API SITE_DIR [N]"""
import base64
import io
import json
import os
import re
import statistics
import sys
import zipfile

import requests

API, SITE = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 5
MAIN = os.path.join(os.path.dirname(__file__), "..", "examples", "fastapi", "api", "main.py")
EVENT = {"version": "2.0", "routeKey": "GET /", "rawPath": "/", "rawQueryString": "",
         "headers": {"host": "bench"}, "isBase64Encoded": False,
         "requestContext": {"http": {"method": "GET", "path": "/", "sourceIp": "127.0.0.1",
                                     "protocol": "HTTP/1.1", "userAgent": "bench"},
                            "stage": "$default", "requestId": "bench"}}


def package(with_bytecode):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(SITE):
            if not with_bytecode and "__pycache__" in root:
                continue
            for f in files:
                p = os.path.join(root, f)
                z.write(p, os.path.relpath(p, SITE))
        z.write(MAIN, "main.py")
    return base64.b64encode(buf.getvalue()).decode()


def cold_starts(name, code):
    r = requests.post(f"{API}/2015-03-31/functions", json={
        "FunctionName": name, "Runtime": "python3.11", "Handler": "main.handler",
        "Role": "arn:aws:iam::000000000000:role/bench", "Code": {"ZipFile": code},
        "MemorySize": 256, "Timeout": 30})
    r.raise_for_status()
    inits = []
    for i in range(N):
        # A configuration change retires the warm instances: the next call is cold.
        requests.put(f"{API}/2015-03-31/functions/{name}/configuration",
                     json={"Environment": {"Variables": {"RUN": str(i)}}}).raise_for_status()
        r = requests.post(f"{API}/2015-03-31/functions/{name}/invocations",
                          data=json.dumps(EVENT), headers={"X-Amz-Log-Type": "Tail"})
        tail = base64.b64decode(r.headers["X-Amz-Log-Result"]).decode()
        inits.append(float(re.search(r"Init Duration: ([\d.]+) ms", tail).group(1)))
    return statistics.median(inits)


with_pyc = cold_starts("bench-bytecode", package(True))
without = cold_starts("bench-source", package(False))
print(f"| FastAPI cold start (Init Duration), with the compiled bytecode | {with_pyc:.0f} ms |")
print(f"| the same without it (every import compiled at each cold start) | {without:.0f} ms |")
print(f"| ratio | {without / with_pyc:.1f}x |")
