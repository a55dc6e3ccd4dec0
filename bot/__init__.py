"""Qyzmet: the Telegram and SMS front end of the public health services."""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it, `qyzmet --version` prints it, CHANGELOG.md has it
