"""The bot's web routes that people (not machines) use: the certificate verification page."""
