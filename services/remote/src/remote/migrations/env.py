from remote import models  # noqa: F401 - puts the tables on Base.metadata for autogenerate
from remote.db import Base
from servicekit.migrations import run_env

run_env(Base.metadata)
