import os

from flask import Flask, request

app = Flask(__name__)


@app.route("/")
def index():
    return {"greeting": os.environ["GREETING"], "path": request.path}


@app.route("/items/<int:n>", methods=["GET", "POST"])
def item(n):
    return {"n": n, "method": request.method, "q": request.args.get("q"),
            "body": request.get_data(as_text=True)}


@app.route("/shipped/<path:name>")
def shipped(name):
    return {"shipped": os.path.exists(os.path.join(os.path.dirname(__file__), name))}
