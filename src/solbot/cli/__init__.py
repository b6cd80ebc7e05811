"""The `solbot` command: thin typer shells over the services; one module per group of commands."""
