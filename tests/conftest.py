import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Scripts that made the saved fixtures run with an old release, not here.
collect_ignore = ["fixtures"]
