"""Command-line mistakes (an unknown command or option, a missing or bad value) answered in
one line and exit 2, the way every other mistake is, instead of a usage box."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import typer
from typer.core import TyperGroup

# the click that Typer runs on (recent Typer versions carry their own copy of it)
_click = sys.modules[typer.BadParameter.__module__.rsplit(".", 1)[0]]


def usage_error_line(exc, command: str = "churnml") -> str:
    """A command-line mistake (unknown command or option, missing or bad value) as one line:
    the command, what is wrong, the likely meant name, and where the help is. `command` names
    the command when the error does not say (an option's value missing)."""
    import re

    if exc.ctx is not None and exc.ctx.parent is not None:
        command = " ".join(["churnml", *exc.ctx.command_path.split()[1:]])
    if isinstance(exc, _click.exceptions.NoSuchOption):
        meant = exc.possibilities or []
        what = f"no such option {exc.option_name}" + (
            f" (did you mean {meant[0]}?)" if meant else ""
        )
    else:
        message = " ".join(exc.format_message().split())
        suggested = re.fullmatch(r"(.*?)\.? Did you mean (.*)\?", message)
        what = (
            f"{suggested[1]} (did you mean {suggested[2]}?)" if suggested else message.rstrip(".")
        )
        what = what[:1].lower() + what[1:]
        for word, meant in _COMMANDS_BY_ANOTHER_NAME.items():
            if what == f"no such command {word!r}":
                what += f" ({meant})"
    return f"{command}: {what}; see {command} --help"


# Words a user may try for what another command does.
_COMMANDS_BY_ANOTHER_NAME = {
    "report": "`churnml score` writes the report, `churnml evaluate` the track-record page",
    "predict": "did you mean 'score'?",
    "validate": "did you mean 'check-data'?",
}


class OneLineUsageErrors(TyperGroup):
    """Usage errors answered in one line and exit 2 instead of a usage box; `--help` (and the
    help shown for a bare `churnml`) stay as they are."""

    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        words = [*getattr(ctx, "_protected_args", []), *ctx.args]
        named = next((w for w in words if w in self.commands), None)
        with _one_line_usage_errors(f"churnml {named}" if named else "churnml"):
            return super().invoke(ctx)


@contextmanager
def _one_line_usage_errors(command: str = "churnml"):
    try:
        yield
    except getattr(_click.exceptions, "NoArgsIsHelpError", ()):
        raise  # a bare `churnml` shows the help
    except _click.exceptions.UsageError as exc:
        typer.secho(usage_error_line(exc, command), fg="red", err=True)
        raise typer.Exit(2) from None
