from billing.db import Base
from billing.invoices import models  # noqa: F401 - puts the tables on Base.metadata for autogenerate
from servicekit.migrations import run_env

run_env(Base.metadata)
