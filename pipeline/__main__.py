"""`python -m pipeline` entry point."""

import atexit
import os
import sys

from pipeline.cli import main

code = main()
# Python's teardown after a run spends about 2 s destroying TensorFlow's and Beam's
# objects. Run the exit handlers (log flushing, child processes), flush, and leave.
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code or 0)
