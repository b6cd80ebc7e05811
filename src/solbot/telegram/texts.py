"""What the bot says: the disclosure, the help, and the one-line usage of every command."""

from __future__ import annotations

DISCLOSURE = (
    "Before we start, please read this.\n\n"
    "• solbot trades Solana tokens for you, around the clock, from a wallet made just for you. "
    "Trading can lose money, quickly; past results say nothing about the future.\n"
    "• Your wallet's key is kept encrypted by the operator's bot. You can export it (/export) "
    "and withdraw (/withdraw) at any time; whoever runs the bot could, in principle, too.\n"
    "• Only deposit what you can afford to lose.\n\n"
    "Press the button if you understand and accept."
)
ACCEPT = "I understand and accept"


def disclosure(fee_pct: float) -> str:
    """The disclosure, with the operator's performance fee when there is one."""
    if fee_pct <= 0:
        return DISCLOSURE
    fee = (
        f"• The operator takes {fee_pct:g} % of your realised profit above its previous best "
        "(a high-water mark), counted every day: after a loss nothing is taken until the loss "
        "is made good. It is paid from this wallet to the operator's. /pnl shows what has "
        "accrued and what was paid.\n"
    )
    return DISCLOSURE.replace("• Only deposit", fee + "• Only deposit")


USAGE = {
    "start": "/start",
    "balance": "/balance",
    "positions": "/positions",
    "trades": "/trades [N]",
    "pnl": "/pnl",
    "withdraw": "/withdraw <address> <amount in SOL> <2FA code>",
    "export": "/export <2FA code>",
    "risk": "/risk <conservative|moderate|aggressive>",
    "pause": "/pause",
    "resume": "/resume",
    "close": "/close <token>",
    "settings": "/settings",
    "2fa": "/2fa [code]",
    "whitelist": "/whitelist [add <address> [label] | remove <address>]",
    "web": "/web",
    "help": "/help",
}

HELP = "\n".join(
    [
        "solbot commands:",
        "/balance – your wallet and its value",
        "/positions – what you hold now",
        "/trades [N] – your last trades",
        "/pnl – profit and loss, with a chart",
        "/risk <tier> – conservative, moderate or aggressive",
        "/pause, /resume – stop or restart new trades (open ones are still managed)",
        "/close <token> – sell a position now",
        "/settings – which notifications you get",
        "/2fa – set up the second factor (needed to export or withdraw)",
        "/whitelist – addresses you may withdraw to",
        "/withdraw <address> <SOL> <code> – send SOL to a whitelisted address",
        "/export <code> – your private key (shown for 60 s)",
        "/web – a sign-in link to the dashboard (charts, trades; good once, 10 minutes)",
    ]
)

# The command menu (`setMyCommands`): what a friend sees when they tap "/" or the menu button.
MENU = {
    "balance": "Your wallet and what it is worth",
    "positions": "What you hold now",
    "trades": "Your last trades",
    "pnl": "Profit and loss, with a chart",
    "pause": "Stop new trades (open ones are still managed)",
    "resume": "Trade again",
    "risk": "Conservative, moderate or aggressive",
    "close": "Sell a position now",
    "web": "A sign-in link to the dashboard",
    "settings": "Which notifications you get",
    "withdraw": "Send SOL to a whitelisted address",
    "whitelist": "Addresses you may withdraw to",
    "2fa": "Set up the second factor",
    "export": "Your private key (shown for a minute)",
    "help": "Every command",
}
# The operator's own commands, shown in their chat's menu only.
OPERATOR_MENU = {
    "users": "Everyone, their state and value",
    "pauseall": "Pause everyone's new trades",
    "resumeall": "Resume everyone",
    "stopentry": "No new entries for anyone (exits go on)",
    "startentry": "Allow new entries again",
    "revoke": "Take back an approval given here",
}
PLAIN_TEXT = "I answer commands: tap the menu button or send /help to see them."
BARE_CODE = (
    "That looked like a 2FA code, so I deleted it. Send it with its command: /2fa <code>, "
    "/export <code> or /withdraw <address> <SOL> <code>."
)

PRIVATE_ONLY = "Please send me this in a private chat, not in a group."
STRANGER = "Sorry, this bot is private."
ASKED_OPERATOR = (
    "This bot is private: I have asked its operator to let you in. You will hear back here."
)
LET_IN = "The operator let you in. Send /start to begin."
OPERATOR_ONLY = "That command is for the operator."
SLOW_DOWN = "Too many commands; please wait a minute."
NOT_YOURS = "That button is not yours."
FORWARDED = "I don't act on forwarded messages: type the command yourself."
EDITED = "I don't act on edited messages: send the command again."
NO_WALLET = "You have no wallet yet: send /start."


def usage(command: str) -> str:
    return f"Usage: {USAGE[command]}"


def sentence(text: str) -> str:
    """`text` starting with a capital, as every reply does, unless it starts with a name that
    must stay as it is (an address, a command, a token symbol)."""
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():
        return text[0].upper() + text[1:]
    return text
