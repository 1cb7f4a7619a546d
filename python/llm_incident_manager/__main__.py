"""``python -m llm_incident_manager`` is ``lim``."""

from llm_incident_manager.cli import main

raise SystemExit(main())
