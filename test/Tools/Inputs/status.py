"""Runs a command and prints its output, then `exit N` with its status.

lit's shell has no `$?`; the tools' exit statuses (0 success, 1 a failed
check, 2 an error) are checked through this: a signal shows as a negative N.
"""
import subprocess
import sys

result = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
sys.stdout.write(result.stdout)
print(f"exit {result.returncode}")
