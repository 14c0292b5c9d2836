"""Command line: `python -m pipeline COMMAND`. The parser and the dispatcher only: each
command lives in its own module, which adds its parser (`add_parser` or `add_parsers`)
and handles it (`main(args, out, err)`, returning a code of pipeline/exit_codes.py);
`--help` prints those codes.
"""

import argparse
import os
import sys
from pathlib import Path

from pipeline import (
    cd_cli,
    compile_cli,
    inspect_cli,
    monitor_cli,
    predict_cli,
    prepare_cli,
    replay_cli,
    rollback,
    run_cli,
    schema_cli,
)
from pipeline.exit_codes import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

# The handler of each command.
HANDLERS = {
    "run": run_cli.main,
    "prepare-data": prepare_cli.main,
    "predict": predict_cli.main,
    **dict.fromkeys(inspect_cli.COMMANDS, inspect_cli.main),
    "rollback": rollback.main,
    **dict.fromkeys(schema_cli.COMMANDS, schema_cli.main),
    "compile": compile_cli.main,
    **dict.fromkeys(cd_cli.COMMANDS, cd_cli.main),
    "monitor": monitor_cli.main,
    "replay": replay_cli.main,
}
# Commands that print as they go (progress lines, TFDV's schema inference): the others
# run with file descriptors 1 and 2 sent away, so that TensorFlow's start-up lines do
# not bury their answer.
LOUD = ("run", "prepare-data")


def _help_epilog() -> str:
    """The exit codes, for the end of `--help`."""
    import textwrap

    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(meaning, width=78, initial_indent=f"  {code:<5}",
                               subsequent_indent=" " * 7)
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipeline", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A TFX pipeline for CSV data: validate it, train, evaluate and push a "
        "model,\nthen inspect the runs. `python -m pipeline COMMAND --help` shows a "
        "command's flags.", epilog=_help_epilog())
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                     title="commands", metavar="COMMAND")
    run_cli.add_parser(commands)
    prepare_cli.add_parser(commands)
    predict_cli.add_parser(commands)
    inspect_cli.add_parsers(commands)
    rollback.add_parser(commands)
    monitor_cli.add_parser(commands)
    replay_cli.add_parser(commands)
    schema_cli.add_parsers(commands)
    compile_cli.add_parser(commands)
    cd_cli.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = HANDLERS[args.command]
    try:
        if args.command in LOUD:
            return handler(args, sys.stdout, sys.stderr)
        from pipeline.quiet import captured_output

        with captured_output(Path(os.devnull), verbose=False) as streams:
            return handler(args, *streams)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (say `| head`) stopped reading: nothing is wrong with the command.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
