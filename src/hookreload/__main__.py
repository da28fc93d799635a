"""``python -m hookreload``: the command line."""

from hookreload._cli import main

raise SystemExit(main())
