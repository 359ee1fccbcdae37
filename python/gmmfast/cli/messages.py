"""How the command line fails: one-line errors with an exit status, and text made safe to
print."""

from __future__ import annotations

import argparse
import sys

HELP_FORMAT = argparse.RawDescriptionHelpFormatter


class CommandError(Exception):
    """A failure on the user's inputs, reported as one line (exit status 1)."""

    status = 1


class UsageError(CommandError):
    """A usage error found after parsing (exit status 2, as argparse's own)."""

    status = 2


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line ``gmmfast: error: ...`` instead of usage + error."""

    def error(self, message):
        sys.stderr.write(f"gmmfast: error: {one_line(message)} (see '{self.prog} --help')\n")
        sys.exit(2)


def one_line(message) -> str:
    """A message on one line, safe to print: messages of PIL, NumPy or zipfile may hold
    newlines, and text from a file may hold terminal escapes."""
    return printable(" ".join(str(message).split()))


def printable(text: str) -> str:
    """``text`` with every non-printable character (ESC, CR, BEL, DEL, C1 controls, bidi
    overrides, ...) written as a Python escape, so that text read from a file cannot move the
    cursor, set the title, clear the screen or forge lines on a terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms"
