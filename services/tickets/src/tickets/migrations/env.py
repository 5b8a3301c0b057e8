from servicekit.migrations import run_env
from tickets.db import Base
from tickets.tickets import models  # noqa: F401 - registers the tables on Base.metadata

run_env(Base.metadata)
