"""The admission webhook's HTTP side: the FastAPI app (`app`: `POST /validate`, `POST /mutate`,
health), one review from bytes to answer (`review`), the serving certificate (`tls`) and uvicorn
(`server`). Decisions and digest-pinning patches are the core's (`app.core.admission.decision`,
`app.core.admission.pinning`); objects are built by `app.compose.build_webhook`."""
