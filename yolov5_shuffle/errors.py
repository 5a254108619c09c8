"""One base class for the errors a user can fix; the CLI prints them as ``command: message`` and exits 2."""


class UserError(Exception):
    pass
