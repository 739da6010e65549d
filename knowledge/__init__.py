"""Knowledge base of the 人社 citizen-services chatbot.

A plain library: it imports no ``rasa``, ``rasa_sdk``, ``actions`` or ``bot``.
Callers outside this package use :mod:`knowledge.service` only; everything else
(ORM models, ingestion, search internals) may change without notice.

Nothing here does I/O at import time: settings, engines, the jieba dictionary
and HTTP clients are created on first use.
"""
