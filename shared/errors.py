"""Errors that are the user's to fix: the command line prints them as one line and exits 2."""


class UserError(Exception):
    """Bad usage or configuration; the message is shown as is, without a traceback."""
