"""The services the shells share: what a user's wallet may do, whoever asks.

The CLI (`solbot.cli`), the Telegram bot (`solbot.telegram`) and the trading loop call these,
and only these, for custody (`custody`: wallets created, imported, exported, signers from the
vault), withdrawals (`withdrawals`, with their policy, `withdrawal_policy`, and the checks of a
destination, `withdrawal_destinations`), the second factor (`second_factor`) and the users the
loop trades for (`roster`): a custody rule is written here once, not remembered in each shell.
"""
