"""The `sigwebhook` command line: `main` (parsing, exit codes, the last-resort error handler) and one
module per sub-command (`verify`, `sign`, `keygen`, `serve`), with shared `options`, `output`,
`passwords`, `keyrefs` and `usage`. Objects are built by `app.compose`; nothing runs at import.
"""
