"""The process shell: the command line, start-up, wiring of a running bot, and the HTTP server. The only floor
that may import every other (pyproject.toml, [tool.importlinter])."""
