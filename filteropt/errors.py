"""Errors the user can fix: the CLI prints them as one line and exits with code 2."""


class FilteroptError(Exception):
    """A problem with the user's input or environment, with a message saying how to fix it."""
