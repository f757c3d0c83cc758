"""A detached worker: executes one queued run, outside any terminal (``python -m engine.worker``).

Started by ``flowdeck run --detach`` and by the console, so that closing either never stops
a run. It writes nothing to a terminal; the run's story is in the ledger.
"""

from __future__ import annotations

import argparse
import sys

from engine.client import Workspace
from engine.errors import FlowdeckError


def main(argv: list[str] | None = None) -> int:
    """Claim and execute the run named on the command line; exit 0 if it succeeded."""
    parser = argparse.ArgumentParser(prog="python -m engine.worker")
    parser.add_argument("--project", required=True)
    parser.add_argument("run_id")
    arguments = parser.parse_args(argv)
    try:
        workspace = Workspace.open(arguments.project)
        status = workspace.execute(arguments.run_id)
    except FlowdeckError as error:
        print(error.render(), file=sys.stderr)
        return error.exit_code
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
