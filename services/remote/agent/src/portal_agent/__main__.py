import sys

from portal_agent.cli import main

sys.exit(main())
