"""`clir settings`: the settings every command and the service read (CLIR_* over the defaults), printed."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from pydantic import SecretStr


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("settings", help="print the settings (CLIR_* variables over the defaults)")
    p.add_argument("--shell", action="store_true",
                   help="as CLIR_NAME='value' lines for a shell to evaluate (the image's entry point does)")
    p.set_defaults(func=run)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if not isinstance(value, Path) else value.as_posix()


def run(args: argparse.Namespace) -> int:
    from clir.settings import load_settings

    settings = load_settings()
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if args.shell:
            if "SecretStr" not in str(field.annotation):  # secrets stay in the environment they came from
                print(f"CLIR_{name.upper()}={shlex.quote(_text(value))}")
        else:
            print(f"CLIR_{name.upper()}={_text(value)}")
    return 0
