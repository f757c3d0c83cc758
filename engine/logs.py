"""flowdeck's own log lines: text or one JSON object a line, to stderr, a file, journald and syslog, masked.

The daemon and its workers configure logging here, once, from ``logging:`` in flowdeck.yaml (the
daemon's ``--log-format`` overrides the format, and its workers inherit it). A record about a run
carries ``run_id``, ``pipeline``, ``step`` and ``event`` (``run_fields`` builds them for
``extra=``); the JSON lines always have those keys, null when a record is about no run, so a
log shipper's mapping never changes shape. Every line is masked: the record's text when it is
made (``engine.masking.install_log_masking``), and every field again as it is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import struct
import sys
import time
from pathlib import Path
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from flowdeck.engine.errors import ConfigError
from flowdeck.engine.masking import install_log_masking, mask_value
from flowdeck.engine.project.config.logs import SYSLOG_NETWORK, LoggingConfig

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
RUN_FIELDS = ("event", "run_id", "pipeline", "step")
JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_PORT = 514
JOURNAL_MESSAGE_BYTES = 48 * 1024  # a datagram larger than the socket's buffer would be refused whole
ROTATE_BYTES = 10 << 20
ROTATE_KEEP = 5
HANDLER_ERROR_EVERY_SECONDS = 60.0
ROOT = "flowdeck"
# journald's and syslog's priorities, by Python level name
_PRIORITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}


def run_fields(run_id: str | None = None, pipeline: str | None = None, step: str | None = None,
               event: str | None = None) -> dict[str, str | None]:
    """The ``extra=`` of a record about a run: ``log.info(..., extra=run_fields(run.run_id, run.pipeline, event="run.started"))``."""
    return {"run_id": run_id, "pipeline": pipeline, "step": step, "event": event}


class JsonLines(JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, event, run_id, pipeline, step, message,
    logger, pid, and error (the traceback) when there is one; any other ``extra=`` field follows."""

    def __init__(self) -> None:
        super().__init__(["levelname", "name", "process", "message"], timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger", "process": "pid", "exc_info": "error"},
                         defaults={name: None for name in RUN_FIELDS}, json_ensure_ascii=False)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Put the fields in a fixed order, lower-case the level, and mask every value."""
        log_data["level"] = str(log_data.get("level", "")).lower()
        head = ("time", "level", *RUN_FIELDS, "message", "logger", "pid")
        ordered = {key: log_data.pop(key, None) for key in head}
        ordered.update(log_data)
        return dict(mask_value(ordered))


class _QuietOnFailure(logging.Handler):
    """A forwarding handler whose receiver may go away: say so on stderr at most once a minute, never
    a traceback per record (the daemon's other handlers keep working)."""

    _last_complaint = 0.0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's naming
        now = time.monotonic()
        if now - self._last_complaint >= HANDLER_ERROR_EVERY_SECONDS:
            self._last_complaint = now
            error = sys.exc_info()[1]
            sys.stderr.write(f"flowdeck: cannot forward log records to {self.describe()}: {error}\n")

    def describe(self) -> str:
        """Where this handler sends records, for the complaint."""
        return type(self).__name__


class JournaldHandler(_QuietOnFailure):
    """Records to the systemd journal through its native protocol (one datagram a record), with the
    run's fields as ``FLOWDECK_RUN_ID``, ``FLOWDECK_PIPELINE``, ``FLOWDECK_STEP``, ``FLOWDECK_EVENT``.

    Written here rather than taken from the systemd bindings, which need libsystemd and a C build:
    the protocol is a few ``NAME=value`` lines (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/).
    """

    def __init__(self, path: str = JOURNAL_SOCKET, identifier: str = ROOT) -> None:
        super().__init__()
        self.path = path
        self.identifier = identifier
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def describe(self) -> str:
        return f"the journal at {self.path}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # the journal keeps its own time, priority and identifier: a text line is the message alone
            text = self.format(record) if isinstance(self.formatter, JsonLines) else _message_alone(record)
            message = text.encode("utf-8", "replace")[:JOURNAL_MESSAGE_BYTES]
            fields: list[tuple[str, bytes]] = [
                ("MESSAGE", message),
                ("PRIORITY", str(_PRIORITY.get(record.levelname, 6)).encode()),
                ("SYSLOG_IDENTIFIER", self.identifier.encode()),
                ("SYSLOG_PID", str(record.process).encode()),
                ("LOGGER", record.name.encode()),
            ]
            for name in RUN_FIELDS:
                value = getattr(record, name, None)
                if value is not None:
                    fields.append((f"FLOWDECK_{name.upper()}", str(mask_value(str(value))).encode()))
            self._socket.sendto(b"".join(_journal_field(name, value) for name, value in fields), self.path)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._socket.close()
        super().close()


def _message_alone(record: logging.LogRecord) -> str:
    """A record's message, and its traceback when it has one (already masked when the record was made)."""
    message = record.getMessage()
    return f"{message}\n{record.exc_text}" if record.exc_text else message


def _journal_field(name: str, value: bytes) -> bytes:
    """One field of the native protocol: ``NAME=value\\n``, or, when the value spans lines,
    ``NAME\\n`` + its length (64-bit little-endian) + the value + ``\\n``."""
    if b"\n" in value:
        return name.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return name.encode() + b"=" + value + b"\n"


class SyslogHandler(_QuietOnFailure, logging.handlers.SysLogHandler):
    """The standard library's syslog handler, tagged ``flowdeck[pid]:``, quiet when the receiver is gone."""

    def __init__(self, address: str, facility: str) -> None:
        target, kind = syslog_target(address)
        self.address_text = address
        try:
            logging.handlers.SysLogHandler.__init__(self, address=target, facility=facility, socktype=kind)
        except OSError as error:
            raise ConfigError(f"logging.syslog: cannot reach {address}: {error.strerror or error}",
                              hint="start the syslog receiver first, or fix `logging.syslog` in flowdeck.yaml") from None
        self.ident = f"{ROOT}[{os.getpid()}]: "

    def describe(self) -> str:
        return f"syslog at {self.address_text}"


def _is_the_journal(stream: IO[str]) -> bool:
    """Whether ``stream`` is already connected to the journal: systemd says so in ``$JOURNAL_STREAM``
    (``device:inode`` of the stream it connected), the test its documentation gives."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


def syslog_target(address: str) -> tuple[str | tuple[str, int], socket.SocketKind]:
    """Where ``logging.syslog`` points: a socket path, or (host, port) with UDP or TCP (port 514 by default)."""
    match = SYSLOG_NETWORK.match(address)
    if match is None:
        return address, socket.SOCK_DGRAM
    scheme, host, port = match.groups()
    return (host.strip("[]"), int(port or SYSLOG_PORT)), socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of ``text`` or ``json`` lines."""
    return JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: LoggingConfig, *, log_file: Path | None = None, stream: IO[str] | None = None,
                      log_format: str | None = None) -> None:
    """Send flowdeck's records to ``stream`` (stderr), ``log_file`` (rotated at 10 MB, 5 kept) and the
    forwarders ``settings`` names, as text or JSON (``log_format`` overrides ``settings.format``).

    Raises ``ConfigError`` when a forwarder cannot be set up (no journal socket, a TCP syslog refusing).
    """
    install_log_masking()
    formatter = formatter_for(log_format or settings.format)
    stream = stream or sys.stderr
    handlers: list[logging.Handler] = []
    if not (settings.journald and _is_the_journal(stream)):  # else every record would reach the journal twice
        handlers.append(logging.StreamHandler(stream))
    if log_file is not None:
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP))
    if settings.journald:
        path = settings.journald if isinstance(settings.journald, str) else JOURNAL_SOCKET
        if not Path(path).exists():
            raise ConfigError(f"logging.journald: there is no journal socket at {path}",
                              hint="run under systemd, give the socket's path (`journald: /path/to/socket`), "
                              "or set `journald: false` in flowdeck.yaml")
        handlers.append(JournaldHandler(path))
    if settings.syslog:
        handlers.append(SyslogHandler(settings.syslog, settings.syslog_facility))
    root = logging.getLogger(ROOT)
    for old in root.handlers:
        old.close()
    root.handlers.clear()
    root.setLevel(settings.level.upper())
    root.propagate = False
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
