"""Reading a project's text files (YAML, SQL): UTF-8 only, and every way it can fail said in words.

A file that is not UTF-8, a folder where a file belongs or a file that cannot be read becomes
a ``ConfigError`` naming the file (and, for bad bytes, the line and column of the first one);
a missing file stays ``FileNotFoundError``, which callers turn into their own message.
"""

from __future__ import annotations

from pathlib import Path

from flowdeck.engine.errors import ConfigError, Location


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; ``ConfigError`` when it cannot be read as such."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, where a file belongs",
                          hint="move the folder aside and put the file there") from None
    except PermissionError:
        raise ConfigError(f"cannot read {path}: permission denied",
                          hint="make it readable by this user (and by the daemon's), see docs/security.md") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            f"{path.name} is not UTF-8 text: byte 0x{data[error.start]:02x} at line {line}, column {column} "
            "is not valid UTF-8",
            location=Location(path, line, column),
            hint="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`); flowdeck reads nothing else",
        ) from None
