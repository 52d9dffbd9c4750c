"""The error of every administration request, in a module of its own: the command line imports
it to build its parser and report refusals without loading the access store."""

from __future__ import annotations


class AccessError(ValueError):
    """An administration request that cannot be done, with a message for a person."""
