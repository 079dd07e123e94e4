"""Runs one built handler the way Lambda's Python runtime does, in a fresh
interpreter started with ``python -I -S`` (no site-packages, no project
folder on ``sys.path``): the function's folder first, then the layer's
``python/``, then a folder with only what the Lambda runtime itself provides
(boto3 and its dependencies). What it imports can only come from there.

    python -I -S lambda_harness.py request.json

``request.json``: ``{"paths", "handler", "event", "env", "function_name", "out", "iam"}``.
Writes ``{"result", "modules"}`` to ``out``; a handler that raises ends the
process with its traceback on stderr.

``iam`` (optional): the handler's AWS calls are checked against its role, as
in the local stack: ``{"module"}`` is local/iam.py (standard library only,
loaded by path), ``{"roles", "facts", "template"}`` what it enforces, and
``{"record"}`` where it writes the calls it checked.
"""

import importlib
import importlib.util
import json
import os
import sys
import time
import uuid
from pathlib import Path


class LambdaContext:
    def __init__(self, function_name):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "build-test"
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + 30

    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.time()) * 1000)


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        request = json.load(handle)
    sys.path[:0] = request["paths"]
    os.environ.update(request["env"])
    checks = request.get("iam")
    iam = _enforce(checks) if checks else None
    module_name, _, attribute = request["handler"].rpartition(".")
    function = request["function_name"]
    if iam is None:
        handler = getattr(importlib.import_module(module_name), attribute)
        result = handler(request["event"], LambdaContext(function))
    else:
        try:
            with iam.running_as(function):  # its init's calls too
                handler = getattr(importlib.import_module(module_name), attribute)
                result = handler(request["event"], LambdaContext(function))
        finally:
            iam.ENFORCER.active.recorder.flush()
    modules = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    with open(request["out"], "w", encoding="utf-8") as handle:
        json.dump({"result": result, "modules": modules}, handle)


def _enforce(checks):
    spec = importlib.util.spec_from_file_location("local_iam", checks["module"])
    iam = importlib.util.module_from_spec(spec)
    sys.modules["local_iam"] = iam
    spec.loader.exec_module(iam)
    # The functions' session, from the artifact's layer, with the check on it
    importlib.import_module("common.adapters.aws").add_session_hook(iam.ENFORCER.install)
    roles = {raw["function"]: iam.Role.from_json(raw) for raw in checks["roles"]}
    recorder = iam.Recorder(Path(checks["record"]), checks["template"])
    iam.ENFORCER.activate(iam.Permissions(roles=roles, facts=iam.Facts.from_json(checks["facts"]), recorder=recorder))
    return iam


if __name__ == "__main__":
    main()
