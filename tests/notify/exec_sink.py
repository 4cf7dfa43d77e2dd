#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The exec subscription's command in the tests: appends what it got on stdin,
# its argv and the KEYSENTRY_* environment as one JSON line to argv[1].
import json
import os
import sys

data = sys.stdin.read()
rec = {"stdin": data, "argv": sys.argv,
       "env": {k: v for k, v in os.environ.items() if k.startswith("KEYSENTRY_")},
       "shell_vars": [k for k in ("PS1", "BASH", "SHELL") if k in os.environ]}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(rec) + "\n")
