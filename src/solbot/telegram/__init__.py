"""The Telegram bot: friends use solbot from a chat; the operator keeps the CLI."""
