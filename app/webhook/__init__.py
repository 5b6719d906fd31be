"""The admission webhook's HTTP side: the FastAPI app (`app`), one review from bytes to answer
(`review`), the serving certificate (`tls`) and uvicorn (`server`). Decisions are the core's
(`app.core.decision`); objects are built by `app.compose.build_webhook`."""
