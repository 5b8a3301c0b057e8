from remote.db import Base
from remote.script_runs import models  # noqa: F401 - puts the tables on Base.metadata for autogenerate
from servicekit.migrations import run_env

run_env(Base.metadata)
