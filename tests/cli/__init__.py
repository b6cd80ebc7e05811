"""End-to-end tests of the `solbot` command line (a package, so that the strategies in it are
importable by the dotted path an operator would type: `cli.my_strategies:Momentum`)."""
