"""The `sigwebhook` command line: `main` (parsing, exit codes, the last-resort error handler) and one
module per sub-command (`verify`, `verify_bundle`, `sign`, `keygen`, `serve`, `audit` with
`auditscan` and `auditlog`, and the checks the chart runs on a release: `waitready`, `selftest`), with
shared `options`, `output`, `passwords`, `keyrefs`, `webhookcalls`, `tables`, `timespans` and
`usage`, and the audit reports' forms (`auditreports`, `auditlogtext`). Objects are built by
`app.compose`; nothing runs at import.
"""
