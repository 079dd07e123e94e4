"""``make token``, ``make demo`` and ``make sent`` reach the stack ``make run``
started (issue #31, "small things"): the same ports, secret and template
parameters, and ``make token`` sets a lifetime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from local.__main__ import client_settings, forget_ports, main, record_ports
from local.stack import Settings
from local.template import ROOT

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def make(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EMAILOPS_")}
    return subprocess.run(  # noqa: S603 - make of this checkout, fixed targets
        ["make", "-s", *arguments],  # noqa: S607 - make from PATH, as a developer runs it
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def claims(token: str, secret: str = "dev-secret") -> dict[str, object]:  # noqa: S107 - the dev secret
    decoded: dict[str, object] = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    return decoded


# ------------------------------------------------------------------ make token
def test_make_token_sets_the_lifetime_asked_for() -> None:
    done = make("token", "DOMAINS=acme.com beta.io", "TTL=600")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    said = claims(token)
    assert said["domains"] == "acme.com beta.io"
    assert said["exp"] == int(str(said["iat"])) + 600
    # Without TTL: 12 hours, as before
    default = claims(make("token", "DOMAINS=acme.com").stdout.strip())
    assert default["exp"] == int(str(default["iat"])) + 12 * 3600


def test_make_token_refuses_a_lifetime_that_is_not_one() -> None:
    for ttl in ("0", "-60"):
        done = make("token", "DOMAINS=acme.com", f"TTL={ttl}")
        assert done.returncode != 0
        assert "positive number of seconds" in done.stderr
        assert done.stdout == ""


def test_make_token_uses_the_stacks_secret_issuer_and_port() -> None:
    done = make(
        "token",
        "DOMAINS=acme.com",
        "URL=1",
        EMAILOPS_API_PORT="3456",
        EMAILOPS_DEV_JWT_SECRET="another-secret",
        EMAILOPS_PARAM_JwtIssuer="https://issuer.example.net/",
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("http://127.0.0.1:3456/#token=")
    said = claims(url.split("#token=", 1)[1], secret="another-secret")
    assert said["iss"] == "https://issuer.example.net/"


# ------------------------------------------------------------------ where the stack runs
def test_the_ports_a_running_make_run_recorded_are_used_when_no_variable_names_them(tmp_path: Path) -> None:
    record = tmp_path / ".local-stack.json"
    record_ports(Settings(api_port=3100, lambda_port=3101, aws_port=3102), record)
    assert json.loads(record.read_text())["pid"] == os.getpid()

    settings, source = client_settings({}, record)
    assert (settings.api_port, settings.lambda_port, settings.aws_port) == (3100, 3101, 3102)
    assert "make run" in source
    # A variable wins (as it does for make run itself)
    settings, source = client_settings({"EMAILOPS_API_PORT": "3200"}, record)
    assert (settings.api_port, settings.lambda_port) == (3200, 3001)
    assert "variables" in source
    # The stack stopped: its record is gone, the defaults are back
    forget_ports(record)
    assert not record.exists()
    settings, source = client_settings({}, record)
    assert settings.api_port == 3000 and "default" in source


def test_the_record_of_a_stack_that_died_is_not_used(tmp_path: Path) -> None:
    record = tmp_path / ".local-stack.json"
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = int(finished.stdout)
    record.write_text(json.dumps({"pid": dead, "api_port": 3100, "lambda_port": 3101, "aws_port": 3102}))
    settings, _ = client_settings({}, record)
    assert settings.api_port == 3000
    # Nor one that is not a record at all
    record.write_text("not json")
    assert client_settings({}, record)[0].api_port == 3000


def test_demo_and_sent_say_where_they_looked_and_which_variables_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"EMAILOPS_API_PORT": "9", "EMAILOPS_LAMBDA_PORT": "9", "EMAILOPS_AWS_PORT": "9"}
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        assert main(["demo"]) == 1
        assert main(["sent"]) == 1
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    said = capsys.readouterr().err
    assert "http://127.0.0.1:9" in said
    assert "EMAILOPS_API_PORT, EMAILOPS_LAMBDA_PORT and EMAILOPS_AWS_PORT" in said
