"""nodetool's credentials (-u, -pw, -pwf as Cassandra's) and the admin endpoint's reading of
them (HTTP Basic)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from skewless.nodetool.cli import PasswordFileError, credentials, read_password_file, split_globals
from skewless.runtime.admin import basic_credentials


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_basic_credentials() -> None:
    assert basic_credentials(_basic(b"cassandra:cassandra")) == ("cassandra", "cassandra")
    assert basic_credentials(_basic(b"u:pa:ss word")) == ("u", "pa:ss word")  # first colon
    assert basic_credentials(_basic("r\u00f4le:\u00e9".encode())) == ("r\u00f4le", "\u00e9")
    assert basic_credentials("basic  " + base64.b64encode(b"u:").decode()) == ("u", "")
    for bad in [None, "", "Basic", "Bearer abc", "Basic !!!", _basic(b"nocolon"),
                _basic(b":pw"), _basic(b"\xff:x")]:
        assert basic_credentials(bad) is None, bad


def test_password_file(tmp_path: Path) -> None:
    f = tmp_path / "jmxremote.password"
    f.write_text("# comment\nmonitorRole  QED\n\ncassandra\tsecret extra\ncassandra other\n")
    assert read_password_file(str(f), "cassandra") == "secret"  # the first line naming it
    assert read_password_file(str(f), "monitorRole") == "QED"
    assert read_password_file(str(f), "nobody") == ""
    with pytest.raises(PasswordFileError, match="cannot read the password file"):
        read_password_file(str(tmp_path / "missing"), "cassandra")
    # -pwf wins over -pw (NodeTool.connect); without -u neither is read
    found, _ = split_globals(["-u", "cassandra", "-pw", "x", "--password-file", str(f), "status"])
    assert credentials(found) == ("cassandra", "secret")
    found, _ = split_globals(["-pwf", str(tmp_path / "missing"), "status"])
    assert credentials(found) == (None, None)
    assert credentials({"username": "u", "password": "p"}) == ("u", "p")
