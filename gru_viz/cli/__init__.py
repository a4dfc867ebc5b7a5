"""`python -m gru_viz train|trace|sample|fetch|bench|import|export`: for instructors who precompute models, for
notebook users bringing their own, and for tests. Bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import sys

from gru_viz.checkpoints.checkpoint import CheckpointError
from gru_viz.cli import commands
from gru_viz.cli.args import UsageError
from gru_viz.cli.parser import build_parser
from gru_viz.data import CorpusError
from gru_viz.nets.model import ForcingError
from gru_viz.train import ConfigError

USER_ERRORS = (CorpusError, CheckpointError, ConfigError, ForcingError, ValueError, OSError)
COMMANDS = {"train": commands.cmd_train, "trace": commands.cmd_trace, "sample": commands.cmd_sample,
            "fetch": commands.cmd_fetch, "bench": commands.cmd_bench, "build-ext": commands.cmd_build_ext,
            "import": commands.cmd_import, "export": commands.cmd_export}


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)
        return COMMANDS[a.command](a)
    except UsageError as exc:
        print(f"gru_viz: error: {exc}", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gru_viz: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gru_viz: interrupted", file=sys.stderr)
        return 130
