import json
import os

import idna
import idna.package_data


def handler(event, context):
    root = os.environ["LAMBDA_TASK_ROOT"]
    return {"statusCode": 200, "body": json.dumps({
        "idna": idna.package_data.__version__,
        "idna_file": idna.__file__,
        "root": root,
        "six_shipped": os.path.exists(os.path.join(root, "six.py")),
    })}
