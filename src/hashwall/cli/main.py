"""The ``hashwall`` command: one typer app, one module per command group."""

from __future__ import annotations

import typer

from hashwall.cli.bench import bench_app
from hashwall.cli.case import case_app
from hashwall.cli.casework import register_casework_commands
from hashwall.cli.check import check_command
from hashwall.cli.compare import compare_command
from hashwall.cli.db import db_app
from hashwall.cli.demo import demo_app
from hashwall.cli.eval import eval_command
from hashwall.cli.feed import feed_app
from hashwall.cli.hashing import hash_command
from hashwall.cli.lists import register_lists_commands
from hashwall.cli.match import match_command
from hashwall.cli.operator import register_operator_commands
from hashwall.cli.review import matches_app, verdict_command
from hashwall.cli.serve import serve_command

app = typer.Typer(
    name="hashwall",
    help="hashwall: fingerprint images and match them against a bank of NCII hashes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("hash")(hash_command)
app.command("compare")(compare_command)
app.command("serve")(serve_command)
app.command("check")(check_command)
app.command("verdict")(verdict_command)
app.command("match")(match_command)
app.command("eval")(eval_command)
app.add_typer(matches_app, name="matches")
app.add_typer(case_app, name="case")
app.add_typer(feed_app, name="feed")
app.add_typer(demo_app, name="demo")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
register_operator_commands(app)
register_lists_commands(app)
register_casework_commands(app, case_app)


if __name__ == "__main__":  # pragma: no cover
    app()
