"""The baseline: a bare python-telegram-bot echo bot. `python -m bench.echo_bot BASE_URL TOKEN`."""

import sys

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None  # filters.TEXT
    await message.reply_text(message.text)


if __name__ == "__main__":
    app = ApplicationBuilder().token(sys.argv[2]).base_url(sys.argv[1]).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(poll_interval=0, timeout=10)
