"""An ordinary Flask app, run unchanged in web mode."""
import os

from flask import Flask, request, Response, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return "ok"


@app.route("/flask/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def echo(rest):
    return jsonify(
        path=request.path,
        rest=rest,
        method=request.method,
        args=request.args.to_dict(flat=False),
        body_len=len(request.get_data()),
        forwarded_for=request.headers.get("X-Forwarded-For"),
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        forwarded_host=request.headers.get("X-Forwarded-Host"),
        connection=request.headers.get("Connection"),
        pid=os.getpid(),
        instance=os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    )
