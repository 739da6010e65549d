"""The trainer console (issue 7): a small web app for civil-service staff who train the bot.

``python -m console --port 8001`` serves it (``make run`` starts it through the launcher);
``python -m console create-user NAME --role admin`` creates an account. Modules:

* :mod:`console.settings` — configuration read once from the environment;
* :mod:`console.store` — the console database (users, sessions, audit log, inbox decisions,
  training runs, model activations);
* :mod:`console.auth` — password hashing, sessions, CSRF tokens, roles;
* :mod:`console.nlu_files` — round-trip editing of ``data/nlu/*.yml``;
* :mod:`console.checks` — what an example must pass before it is kept;
* :mod:`console.inbox` — messages the bot did not understand well, masked;
* :mod:`console.rasa_client` — the running Rasa server's HTTP API;
* :mod:`console.training` — background retraining, evaluation, activation and rollback;
* :mod:`console.app` — the aiohttp application and its pages.

Importing the package does no I/O.
"""
