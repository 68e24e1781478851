"""One module per command: its options, then options -> collect -> judge -> report.

`cli.py` keeps the parser and the dispatch; each module here has `options(parser)` and
`run(namespace) -> exit code`."""
