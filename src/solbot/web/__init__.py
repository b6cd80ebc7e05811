"""The dashboard and its REST API (`solbot web`, `solbot run --web`): read-only by default,
and no path through it reveals or moves keys or money (export and withdrawal stay in Telegram
behind the second factor)."""
