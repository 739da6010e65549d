"""The trainer console (issue 7): a small web app for civil-service staff who train the bot.

``python -m bot.console --port 8001`` serves it (``make run`` starts it through the launcher);
``python -m bot.console create-user NAME --role admin`` creates an account. Modules:

* :mod:`bot.console.settings` — configuration read once from the environment;
* :mod:`bot.console.store` — the console database (users, sessions, audit log, inbox decisions,
  training runs, model activations);
* :mod:`bot.console.auth` — password hashing, sessions, CSRF tokens, roles;
* :mod:`bot.console.nlu_files` — round-trip editing of ``data/nlu/*.yml``;
* :mod:`bot.console.checks` — what an example must pass before it is kept;
* :mod:`bot.console.inbox` — messages the bot did not understand well, masked;
* :mod:`bot.console.rasa_client` — the running Rasa server's HTTP API;
* :mod:`bot.console.training` — background retraining, evaluation, activation and rollback;
* :mod:`bot.console.app` — the aiohttp application and its pages.

Importing the package does no I/O.
"""
