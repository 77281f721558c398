"""``python -m alsafe`` runs the command-line interface."""

from alsafe.cli import main

raise SystemExit(main())
