"""``python -m bot.sandbox.emulator --port 8081``: a standalone emulator (see ``standalone``)."""

from .standalone import main

if __name__ == "__main__":
    main()
