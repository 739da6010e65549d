"""``python -m widget``: the website demo and the widget's API (:func:`widget.app.main`)."""

import sys

from widget.app import main

sys.exit(main())
