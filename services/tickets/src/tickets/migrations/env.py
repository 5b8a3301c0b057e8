from servicekit.migrations import run_env
from tickets.db import Base
from tickets.knowledge import models as knowledge_models  # noqa: F401 - registers the tables on Base.metadata
from tickets.tickets import models  # noqa: F401 - registers the tables on Base.metadata

run_env(Base.metadata)
