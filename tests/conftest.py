import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

# Scripts that made the saved fixtures run with an old release, not here.
collect_ignore = ["fixtures"]
