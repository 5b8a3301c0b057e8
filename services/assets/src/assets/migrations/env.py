from assets.assets import models  # noqa: F401 - puts the tables on Base.metadata for autogenerate
from assets.db import Base
from assets.sites import models as site_models  # noqa: F401
from servicekit.migrations import run_env

run_env(Base.metadata)
