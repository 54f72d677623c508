"""``nodetool [-h host] [-p port] [-u username] [-pw password | -pwf file] <command> [args]``.

Global options may stand anywhere on the line, as with Cassandra's nodetool. Exit codes as
Cassandra's: 0 done, 1 a bad command line, an unreachable node or refused credentials, 2 an
operation that failed on the node (``error: <message>`` on stderr). With ``-u``, the password
comes from ``-pwf`` (Cassandra's: the second word of the file's line whose first word is the
username; it wins over ``-pw``), else ``-pw``, else a prompt when stdin is a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from skewless.nodetool import (
    cmd_disk,  # noqa: F401 - verify, rebuild, diskstatus
    cmd_repair,  # noqa: F401 - registers repair, garbagecollect
    cmd_topology,  # noqa: F401 - decommission, removenode, cleanup
)
from skewless.nodetool.client import AdminClient, ConnectFailed, OperationFailed
from skewless.nodetool.commands import COMMANDS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7199
_GLOBALS = {"-h": "host", "--host": "host", "-p": "port", "--port": "port",
            "-u": "username", "--username": "username", "-pw": "password",
            "--password": "password", "-pwf": "password_file",
            "--password-file": "password_file"}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def split_globals(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The global options (anywhere on the line) and the rest, in order."""
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, value = token.partition("=")
        if name in _GLOBALS and (eq or i + 1 < len(argv)):
            found[_GLOBALS[name]] = value if eq else argv[i + 1]
            i += 1 if eq else 2
            continue
        if token in _GLOBALS:
            raise UsageError(f"Required values for option '{token}' not provided")
        rest.append(token)
        i += 1
    return found, rest


def usage() -> str:
    lines = ["usage: nodetool [(-h <host> | --host <host>)] [(-p <port> | --port <port>)]",
             "        [(-u <username> | --username <username>)]",
             "        [(-pw <password> | --password <password>)]",
             "        [(-pwf <passwordFilePath> | --password-file <passwordFilePath>)]",
             "        <command> [<args>]", "",
             "The most commonly used nodetool commands are:"]
    for name, c in sorted(COMMANDS.items()):
        lines.append(f"    {name:<24}{c.description}")
    lines += ["", "See 'nodetool help <command>' for more information on a specific command."]
    return "\n".join(lines) + "\n"


class PasswordFileError(Exception):
    pass


def read_password_file(path: str, username: str) -> str:
    """Cassandra's nodetool -pwf (a JMX password file): lines ``<username> <password>``; the
    password of the first line naming ``username``, "" when none does."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PasswordFileError(f"cannot read the password file {path!r}: "
                                f"{getattr(e, 'strerror', None) or e}") from None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == username:
            return words[1]
    return ""


def credentials(found: dict[str, str]) -> tuple[str | None, str | None]:
    """(username, password) from the global options (NodeTool.connect's order)."""
    username = found.get("username") or None
    password = found.get("password")
    if username is not None:
        if "password_file" in found:
            password = read_password_file(found["password_file"], username)
        if not password and sys.stdin is not None and sys.stdin.isatty():
            password = getpass.getpass("Password:")
    return username, password


def _parser(name: str) -> _Parser:
    c = COMMANDS[name]
    parser = _Parser(prog=f"nodetool {name}", description=c.description, add_help=False)
    for flags, options in c.arguments:
        parser.add_argument(*flags, **options)
    return parser


def run(argv: Sequence[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one nodetool invocation."""
    try:
        found, rest = split_globals(argv)
        if not rest or rest[0] == "help":
            if len(rest) > 1 and rest[1] in COMMANDS:
                return 0, _parser(rest[1]).format_help(), ""
            return 0, usage(), ""
        name = rest[0]
        if name not in COMMANDS:
            raise UsageError(f"Found unexpected parameters: {list(rest)}")
        args = _parser(name).parse_args(rest[1:])
        port_text = found.get("port", str(DEFAULT_PORT))
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"invalid port {port_text!r}")
        username, password = credentials(found)
        client = AdminClient(found.get("host", DEFAULT_HOST), int(port_text), username,
                             password)
        return 0, COMMANDS[name].run(client, args), ""
    except UsageError as e:
        return 1, "", (f"nodetool: {e}\n"
                       "See 'nodetool help' or 'nodetool help <command>'.\n")
    except (ConnectFailed, PasswordFileError) as e:
        return 1, "", f"nodetool: {e}\n"
    except ValueError as e:  # a command's own argument check (Cassandra's checkArgument)
        return 1, "", f"nodetool: {e}\nSee 'nodetool help' or 'nodetool help <command>'.\n"
    except OperationFailed as e:
        return 2, "", f"error: {e}\n"


def main(argv: Sequence[str] | None = None) -> int:
    code, out, err = run(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main())
