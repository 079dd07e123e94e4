"""The page's files as PageFunction answers them (common.logic.page)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from common.logic.page import CONTENT_SECURITY_POLICY, PageAssets
from local.template import ROOT


def folder(tmp_path: Path, **files: bytes) -> Path:
    for name, body in files.items():
        (tmp_path / name.replace("_", ".")).write_bytes(body)
    return tmp_path


def test_the_index_and_its_files_are_answered_with_their_type_and_the_policy(tmp_path: Path) -> None:
    assets = PageAssets(folder(tmp_path, index_html=b"<!doctype html>", app_js=b"export {};", style_css=b"a{}"))
    index = assets.index().response()
    assert index["statusCode"] == 200
    assert index["body"] == "<!doctype html>"
    headers = index["headers"]
    assert isinstance(headers, dict)
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"
    script = assets.static("app.js")
    assert script is not None
    assert script.response()["headers"]["content-type"] == "text/javascript; charset=utf-8"  # type: ignore[index]


def test_binary_files_are_base64_encoded(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    assets = PageAssets(folder(tmp_path, index_html=b"x", logo_png=png))
    answer = assets.static("logo.png")
    assert answer is not None
    response = answer.response()
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(str(response["body"])) == png


@pytest.mark.parametrize("name", ["index.html", "nope.js", "../template.yaml", "sub/x.js", "notes.txt", ""])
def test_only_the_folders_own_known_files_are_answered(tmp_path: Path, name: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.js").write_text("x")
    assets = PageAssets(folder(tmp_path, index_html=b"x", notes_txt=b"secret"))
    assert assets.static(name) is None
    assert assets.names == ["index.html"]


def test_a_folder_without_an_index_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PageAssets(folder(tmp_path, app_js=b"x"))


def test_the_policy_allows_no_inline_script_and_no_other_origin() -> None:
    directives = {part.split()[0]: part.split()[1:] for part in CONTENT_SECURITY_POLICY.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert all("http" not in value for values in directives.values() for value in values)


def test_the_repositorys_page_loads() -> None:
    assets = PageAssets(ROOT / "web")
    assert {"index.html", "app.js", "api.js", "format.js", "token.js", "style.css", "icon.svg"} <= set(assets.names)
    # The function's folder links to it (sam build copies what the link points to)
    assert (ROOT / "functions" / "page" / "web").resolve() == (ROOT / "web").resolve()
